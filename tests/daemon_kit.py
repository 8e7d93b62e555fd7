"""Helpers the daemon and reading tests share: an in-process daemon whose answers are waited on as
events (its on_answer callback), a press counter for DoublePress, and a tap on a MockFactory pin."""

from __future__ import annotations

import faulthandler
import threading
import time

from device.audio import WavSink
from device.button import Press
from device.camera import FileCamera
from device.captioner import Captioner
from device.config import Config, replace
from device.daemon import Daemon
from device.speech import EspeakLibrary, Speaker

# the synthetic scenes are flat drawings and the tiny test model is unsure of everything: a frame
# check and a caption threshold that let the daemon's mechanics be tested on them
PERMISSIVE = {"min_brightness": 10.0, "min_highlight": 0.0, "min_detail": 0.0, "caption_min_logprob": -20.0}


class AnswerWatch:
    """The daemon's on_answer: counts answers under a condition, so a test waits on the event."""

    def __init__(self):
        self.cond, self.count = threading.Condition(), 0

    def __call__(self, answer) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count >= n, timeout)


def make_daemon(bundle, images, tmp_path, camera=None, loader=None, sink=None, reader=None):
    """A started daemon on the file camera and a WAV sink, its loop on a thread: (daemon, thread)."""
    cfg = replace(
        Config(),
        model={"bundle": str(bundle)},
        camera={"source": "files", "path": str(images)},
        speech={"output": "wav", "wav_dir": str(tmp_path / "wav")},
        behaviour=PERMISSIVE,
    )
    speaker = Speaker(lambda: EspeakLibrary(rate_wpm=400), sink or WavSink(tmp_path / "wav"))
    watch = AnswerWatch()
    d = Daemon(
        cfg,
        camera or FileCamera(images),
        speaker,
        loader or (lambda: Captioner(bundle)),
        reader=reader,
        on_answer=watch,
    )
    d.watch = watch
    d.start()
    th = threading.Thread(target=d.run, daemon=True)
    th.start()
    return d, th


def ask(d, kind=Press.SHORT, timeout=30):
    """Press and wait for the answer it gets (and for it to be said); -> that Answer."""
    n = len(d.answers)
    d.press(kind)
    if not d.watch.wait_for(n + 1, timeout):
        faulthandler.dump_traceback(all_threads=True)  # where the daemon is stuck, for the CI log
        raise AssertionError("no answer")
    d.speaker.wait(timeout)
    return d.answers[-1]


def stop(d, th):
    d.request_stop()
    th.join(10)
    assert not th.is_alive()
    d.speaker.close()
    d.close()


class Events:
    """What DoublePress hands on, with when, waited on as events."""

    def __init__(self):
        self.got, self.cond = [], threading.Condition()

    def __call__(self, kind):
        with self.cond:
            self.got.append((kind, time.monotonic()))
            self.cond.notify_all()

    def wait(self, n, timeout=5.0):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= n, timeout), f"only {self.got}"
        return [k for k, _ in self.got]


def wav_said(wav_dir, count: int = 1, timeout: float = 60.0) -> None:
    """Wait until wav_dir holds count whole WAVs (a header is written at close), then a little: a
    keyboard press while the daemon still talks would only stop it."""
    import wave
    from pathlib import Path

    def whole(p) -> bool:
        try:
            with wave.open(str(p)) as w:
                return w.getnframes() > 0
        except (EOFError, wave.Error):
            return False

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        wavs = sorted(Path(wav_dir).glob("*.wav"))
        if len(wavs) >= count and all(whole(p) for p in wavs[:count]):
            break
        time.sleep(0.05)
    time.sleep(0.3)


def tap(pin, down_s=0.03):
    """A press on a MockFactory pin: down for down_s seconds, then up."""
    pin.drive_low()
    time.sleep(down_s)
    pin.drive_high()
