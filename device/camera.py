"""Cameras: one small interface (open / capture / close), hardware libraries imported lazily.

capture() returns the newest frame as uint8 RGB [H, W, 3]. Frames stay in memory.
"""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path

import numpy as np

from .errors import CameraError, ConfigError, ImageError
from .preprocess import load_image

log = logging.getLogger("seesay.camera")
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class FileCamera:
    """Images from a file or a folder (sorted, cycled): demos, tests, benchmarks.
    A corrupt file raises ImageError for that press; the next press takes the next file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._files: list[Path] = []
        self._cycle = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """List the image files (a file, or a folder's images in name order); none is a CameraError."""
        if self.path.is_file():
            self._files = [self.path]
        elif self.path.is_dir():
            self._files = sorted(f for f in self.path.iterdir() if f.suffix.lower() in IMAGE_EXT)
        if not self._files:
            raise CameraError(f"file camera: no images at {self.path} (give a JPEG/PNG or a folder of them)")
        self._cycle = itertools.cycle(self._files)

    def capture(self) -> np.ndarray:
        """The next image in turn as RGB uint8 [H,W,3]; an unreadable one is an ImageError."""
        if self._cycle is None:
            self.open()
        with self._lock:
            f = next(self._cycle)
        if not f.exists():
            raise CameraError(f"file camera: {f} disappeared")
        return np.asarray(load_image(f))

    def close(self) -> None:
        """Forget the list; the next capture starts again from the first file. Idempotent."""
        self._cycle = None


class Picamera2Camera:
    """Raspberry Pi camera via picamera2 (Pi OS apt package python3-picamera2). Started once and
    kept running; capture() takes the newest frame from its buffer."""

    def __init__(self, width: int = 1280, height: int = 960, index: int = 0):
        self.size, self.index, self._cam = (width, height), index, None

    def open(self) -> None:
        """Start the camera at the configured size; missing picamera2 or camera: CameraError with what to check."""
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise CameraError(
                f"picamera2 is not importable ({e}); on Raspberry Pi OS: sudo apt install python3-picamera2 "
                "and use a venv made with --system-site-packages"
            ) from e
        info = Picamera2.global_camera_info()
        if len(info) <= self.index:
            raise CameraError(
                f"no camera found (libcamera lists {len(info)}): check the ribbon cable and "
                "`rpicam-hello --list-cameras`"
            )
        try:
            cam = Picamera2(self.index)  # IndexError when the camera went away since the listing
        except (IndexError, RuntimeError) as e:
            raise CameraError(
                f"camera {self.index} could not be opened ({e}): check the ribbon cable and "
                "`rpicam-hello --list-cameras`"
            ) from e
        try:
            # "BGR888" in libcamera's naming is R,G,B byte order in memory: an RGB numpy array
            cam.configure(cam.create_still_configuration(main={"size": self.size, "format": "BGR888"}, buffer_count=2))
            cam.start()
        except Exception as e:  # libcamera refuses a size or is busy with another program
            cam.close()
            raise CameraError(f"camera {self.index} could not be started ({e}): is another program using it?") from e
        self._cam = cam

    def capture(self) -> np.ndarray:
        """The newest frame, RGB uint8 [height,width,3]; a stopped camera is a CameraError."""
        if self._cam is None:
            self.open()
        try:
            return np.ascontiguousarray(self._cam.capture_array("main")[..., :3])
        except Exception as e:  # libcamera errors surface as various types
            self.close()
            raise CameraError(f"camera stopped delivering frames ({e})") from e

    def close(self) -> None:
        """Stop and release the camera; idempotent."""
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


class OpenCVCamera:
    """USB webcams (V4L2) and Jetson CSI pipelines through OpenCV."""

    def __init__(self, device: str | int = 0, width: int = 1280, height: int = 960):
        self.device, self.size, self._cap = device, (width, height), None

    def open(self) -> None:
        """Open the V4L2 device, index or GStreamer pipeline at the configured size; failure: CameraError."""
        import os

        # OpenCV's own GStreamer/V4L2 warnings go straight to stderr: errors only, unless -v
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        try:
            import cv2
        except ImportError as e:
            raise CameraError(
                "OpenCV is not installed: pip install opencv-python-headless (or apt python3-opencv)"
            ) from e
        dev = int(self.device) if str(self.device).isdigit() else self.device
        cap = cv2.VideoCapture(dev)
        if not cap.isOpened():
            raise CameraError(f"camera {self.device!r} could not be opened: is it plugged in (ls /dev/video*)?")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep only the newest frame
        self._cap, self._cv2 = cap, cv2

    def capture(self) -> np.ndarray:
        """A fresh frame (the stale buffered one dropped), RGB uint8 [H,W,3]."""
        if self._cap is None:
            self.open()
        self._cap.grab()  # drop a possibly stale buffered frame
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self.close()
            raise CameraError(f"camera {self.device!r} returned no frame (unplugged?)")
        return self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Release the device; idempotent."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def make_camera(cfg) -> "FileCamera | Picamera2Camera | OpenCVCamera":
    """From a CameraSettings."""
    if cfg.source == "files":
        return FileCamera(cfg.path)
    if cfg.source == "picamera2":
        if not cfg.device.isdigit():
            raise ConfigError(f"camera.device = {cfg.device!r}: picamera2 takes the camera's index (0, 1, ...)")
        return Picamera2Camera(cfg.width, cfg.height, int(cfg.device))
    if cfg.source == "opencv":
        return OpenCVCamera(cfg.device, cfg.width, cfg.height)
    raise ConfigError(f"camera.source must be files, picamera2 or opencv, not {cfg.source!r}")


__all__ = ["FileCamera", "Picamera2Camera", "OpenCVCamera", "make_camera", "ImageError"]
