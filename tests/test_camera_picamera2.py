"""The Pi camera class against a stand-in picamera2 module that follows the real API (the module is
Raspberry Pi OS' python3-picamera2, which this machine cannot install): the methods and keywords
seesay calls exist with the real names and signatures, so a rename on our side fails here."""

import sys
import types

import numpy as np
import pytest

from device.camera import Picamera2Camera
from device.errors import CameraError


def standin(cameras: int, fail_capture_after: int | None = None, gone_on_open: bool = False):
    """picamera2 as Pi OS ships it, reduced to what a still capture touches. Signatures follow
    picamera2 0.3.x; keyword-only mistakes raise TypeError as the real one does."""
    state = {"captures": 0, "open": 0}

    class Picamera2:
        @staticmethod
        def global_camera_info() -> list[dict]:
            return [
                {
                    "Model": "imx708",
                    "Location": 2,
                    "Rotation": 180,
                    "Id": f"/base/soc/i2c0mux/i2c@1/imx708@1a-{i}",
                    "Num": i,
                }
                for i in range(cameras)
            ]

        def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
            # the real one indexes the listing: IndexError with no camera (or the ribbon cable come loose)
            (self.global_camera_info() if not gone_on_open else [])[camera_num]
            self.config, self.started = None, False
            state["open"] += 1

        def create_still_configuration(
            self,
            main={},
            lores=None,
            raw={},
            transform=None,
            colour_space=None,
            buffer_count=1,
            controls={},
            display=None,
            encode=None,
            queue=True,
            sensor={},
            use_case="still",
        ):
            assert set(main) <= {"size", "format", "stride", "framesize", "preserve_ar"}, main
            return {
                "use_case": use_case,
                "main": {"format": "BGR888", "size": (4608, 2592), **main},
                "buffer_count": buffer_count,
                "queue": queue,
            }

        def configure(self, camera_config=None):
            self.config = camera_config

        def start(self, config=None, show_preview=False):
            if self.config is None:
                raise RuntimeError("Camera has not been configured")
            self.started = True

        def capture_array(self, name="main", wait=None, signal_function=None):
            if not self.started:
                raise RuntimeError("Camera must be started")
            state["captures"] += 1
            if fail_capture_after is not None and state["captures"] > fail_capture_after:
                raise RuntimeError("Camera frontend has timed out!")
            w, h = self.config[name]["size"]
            # BGR888 is 3 bytes a pixel; XRGB8888 would be 4 (seesay keeps the first 3)
            return np.full((h, w, 3 if self.config[name]["format"] == "BGR888" else 4), 120, np.uint8)

        def stop(self):
            self.started = False

        def close(self):
            self.started = False
            state["open"] -= 1

    mod = types.ModuleType("picamera2")
    mod.Picamera2 = Picamera2
    return mod, state


def test_capture_gives_an_rgb_frame_of_the_configured_size_and_close_releases_the_camera(monkeypatch):
    mod, state = standin(cameras=1)
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    cam = Picamera2Camera(width=1280, height=960)
    frame = cam.capture()
    assert frame.shape == (960, 1280, 3) and frame.dtype == np.uint8 and frame.flags["C_CONTIGUOUS"]
    cam.capture()
    assert state == {"captures": 2, "open": 1}  # opened once, kept running
    cam.close()
    cam.close()  # idempotent
    assert state["open"] == 0


def test_no_camera_is_a_camera_error_that_says_what_to_check(monkeypatch):
    mod, _ = standin(cameras=0)
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    with pytest.raises(CameraError, match="no camera found.*list-cameras"):
        Picamera2Camera().capture()


def test_a_camera_that_vanishes_after_the_listing_is_a_camera_error(monkeypatch):
    mod, _ = standin(cameras=1, gone_on_open=True)
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    with pytest.raises(CameraError, match="could not be opened"):
        Picamera2Camera().capture()


def test_frames_that_stop_coming_are_a_camera_error_and_the_next_capture_reopens(monkeypatch):
    mod, state = standin(cameras=1, fail_capture_after=1)
    monkeypatch.setitem(sys.modules, "picamera2", mod)
    cam = Picamera2Camera()
    cam.capture()
    with pytest.raises(CameraError, match="stopped delivering frames"):
        cam.capture()
    assert state["open"] == 0  # closed on the failure, so the next press can open it afresh


def test_without_picamera2_installed_the_error_names_the_apt_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as when it is absent
    with pytest.raises(CameraError, match="python3-picamera2"):
        Picamera2Camera().capture()
