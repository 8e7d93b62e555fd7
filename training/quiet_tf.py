"""TensorFlow imported without its start-up chatter (oneDNN, absl pre-init, deprecation warnings):
a user sees progress bars and results. -v shows everything."""

from __future__ import annotations

import logging
import os
import warnings

from device.quiet import quiet_native_stderr


def import_tensorflow(verbose: bool = False):
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.zeros(1)  # the first op initialises the runtime, which logs too
    if not verbose:
        tf.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
    return tf
