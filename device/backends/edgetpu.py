"""Coral Edge TPU: the `*_edgetpu.tflite` model through the libedgetpu.so.1 delegate.
Ops the compiler could not map run on the CPU inside the same interpreter."""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendUnavailableError
from .litert import interpreter_module
from .tflite_cpu import TFLiteModel

EDGETPU_LIB = "libedgetpu.so.1"


def load_edgetpu_delegate(device: str | None = None):
    """libedgetpu's delegate for one Coral (device: "usb", "pci", "usb:1", None = the first found);
    missing runtime or device: BackendUnavailableError with the fix."""
    mod = interpreter_module()
    try:
        # the library is opened first: a failed load_delegate leaves a half-made Delegate whose
        # __del__ prints "Exception ignored ... no attribute '_library'" to stderr
        import ctypes

        ctypes.CDLL(EDGETPU_LIB)
        return mod.load_delegate(EDGETPU_LIB, {"device": device} if device else {})
    except (ValueError, OSError) as e:
        raise BackendUnavailableError(
            f"Edge TPU runtime not usable ({e}): install `libedgetpu1-std` from the Coral apt repository "
            "(install.sh --coral does it) and plug in the Coral device"
        ) from e


class EdgeTPUModel(TFLiteModel):
    """A `*_edgetpu.tflite` model on a Coral Edge TPU.

    path: the compiled model; threads: CPU threads for ops left on the CPU; device: which Coral
    ("usb", "pci", "usb:1"; None = the first found)."""

    def __init__(self, path: str | Path, threads: int | None = None, device: str | None = None):
        super().__init__(path, threads=threads, delegates=(load_edgetpu_delegate(device),))
