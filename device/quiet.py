"""Native libraries (TFLite's XNNPACK line, TensorFlow's absl start-up lines) write to file
descriptor 2 directly, past Python's logging. In normal use that is noise before the answer; with
debug logging (-v) it is shown."""

from __future__ import annotations

import contextlib
import logging
import os


@contextlib.contextmanager
def quiet_native_stderr():
    """Send fd 2 to /dev/null while the block runs, unless debug logging is on. Python exceptions
    raised inside still carry their messages."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
