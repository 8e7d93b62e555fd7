"""Reading text: the double press (gpiozero MockFactory), what is said, the real OCR engines on
seeded text scenes rendered over the repository's sample photos, and the daemon's read path."""
import importlib.util
import threading
import time

import numpy as np
import pytest
from PIL import Image

from device.button import DoublePress, GPIOButton, Press
from device.ocr import TextLine, reading_order
from device.reading import SAY_READ, read_answer
from training.ocr_eval import accuracy, words
from training.text_scenes import make_text_scenes

from .conftest import ROOT

HAVE_PPOCR = importlib.util.find_spec("tesserocr") and importlib.util.find_spec("rapidocr_onnxruntime")
need_ppocr = pytest.mark.skipif(not HAVE_PPOCR, reason="tesserocr / rapidocr-onnxruntime not installed (requirements-host.txt)")


class Events:
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


@pytest.fixture
def button():
    from gpiozero.pins.mock import MockFactory
    factory = MockFactory()
    ev = Events()
    dp = DoublePress(ev, window_s=0.3)
    b = GPIOButton(17, dp, bounce_ms=0, hold_s=0.6, pin_factory=factory)
    yield factory.pin(17), ev, dp
    b.close()
    dp.close()


def tap(pin, down_s=0.03):
    pin.drive_low()
    time.sleep(down_s)
    pin.drive_high()


def test_two_quick_presses_are_one_double_and_a_lone_press_waits_out_the_window(button):
    pin, ev, _ = button
    tap(pin)
    time.sleep(0.08)
    tap(pin)
    assert ev.wait(1) == [Press.DOUBLE]
    time.sleep(0.5)
    assert len(ev.got) == 1  # no SHORT left over from the pair
    t0 = time.monotonic()
    tap(pin)
    assert ev.wait(2) == [Press.DOUBLE, Press.SHORT]
    waited = ev.got[-1][1] - t0
    assert 0.3 <= waited < 0.3 + 0.25, f"a single press was answered after {waited:.3f} s"


def test_presses_further_apart_than_the_window_are_two_singles_and_a_hold_still_repeats(button):
    pin, ev, _ = button
    tap(pin)
    time.sleep(0.45)
    tap(pin)
    assert ev.wait(2, 3) == [Press.SHORT, Press.SHORT]
    pin.drive_low()
    time.sleep(0.8)
    pin.drive_high()
    assert ev.wait(3, 3) == [Press.SHORT, Press.SHORT, Press.LONG]
    time.sleep(0.5)
    assert len(ev.got) == 3  # the release after a hold is not a press


def test_three_quick_presses_are_a_double_then_a_single():
    ev = Events()
    dp = DoublePress(ev, window_s=0.2)
    for _ in range(3):
        dp(Press.SHORT)
    assert ev.wait(2) == [Press.DOUBLE, Press.SHORT]
    dp.close()


def test_reading_order_joins_pieces_of_a_row_left_to_right_then_rows_top_down():
    pieces = [TextLine("world", (120, 10, 200, 30), 0.9), TextLine("Hello", (10, 12, 100, 31), 0.9),
              TextLine("below", (10, 50, 90, 70), 0.9)]
    assert [l.text for l in reading_order(pieces)] == ["Hello world", "below"]


def test_what_is_said_for_text_none_small_and_a_dark_frame():
    grey = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    text, kind = read_answer([TextLine("EXIT", (0, 0, 80, 40), 0.9), TextLine("Platform 4", (0, 50, 90, 80), 0.9)],
                             grey, 25, 8)
    assert (text, kind) == ("EXIT. Platform 4.", "text")
    assert read_answer([], grey, 25, 8) == (SAY_READ["no_text"], "no_text")
    assert read_answer([TextLine("Exit", (0, 0, 20, 6), 0.9)], grey, 25, 8) == (SAY_READ["small"], "small")
    assert read_answer([TextLine("~ |", (0, 0, 80, 40), 0.9)], grey, 25, 8) == (SAY_READ["no_text"], "no_text")
    assert read_answer([], np.zeros((224, 224, 3), np.uint8), 25, 8)[1] == "dark"


@pytest.fixture(scope="module")
def text_scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("text-scenes")
    return out, make_text_scenes(out, ROOT / "samples", n=12, seed=3)


@need_ppocr
def test_the_chosen_engine_reads_clean_signs_labels_and_pages(text_scenes):
    from device.ocr import load_reader
    folder, truth = text_scenes
    reader = load_reader("ppocr-tesseract", threads=2)
    acc = {"clean": [], "hard": []}
    for k, t in truth.items():
        lines = reader.read(np.asarray(Image.open(folder / k).convert("RGB")))
        acc[t["difficulty"]].append(accuracy(words(" ".join(t["lines"])), words(" ".join(l.text for l in lines))))
    reader.close()
    assert np.mean(acc["clean"]) >= 0.85, acc
    assert np.mean(acc["hard"]) >= 0.5, acc
    # the photo alone has no text
    assert read_answer(load_reader("ppocr-tesseract").read(np.asarray(Image.open(ROOT / "samples/cat.jpg"))),
                       np.full((224, 224, 3), 128, np.uint8), 25, 0)[1] in ("no_text", "small")


def test_a_missing_engine_is_a_clear_error_and_the_cli_says_so(monkeypatch, tmp_path, capsys):
    import builtins
    from device.__main__ import main
    from device.errors import OCRUnavailableError
    from device.ocr import load_configured, load_reader
    real = builtins.__import__

    def no_ocr(name, *a, **kw):
        if name.split(".")[0] in ("tesserocr", "rapidocr_onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_ocr)
    with pytest.raises(OCRUnavailableError, match="install"):
        load_reader("tesseract")
    assert load_configured("auto") is None and load_configured("none") is None
    assert main(["read", str(ROOT / "samples/cat.jpg")]) == 2
    assert "Reading text is not installed" in capsys.readouterr().err


@need_ppocr
def test_daemon_double_press_reads_and_a_daemon_without_a_reader_says_so(bundle, text_scenes, tmp_path):
    from device.ocr import load_reader
    from .test_daemon import ask, make_daemon, stop
    folder, truth = text_scenes
    sign = next(k for k, t in truth.items() if t["kind"] == "sign" and t["difficulty"] == "clean")
    one = tmp_path / "one"
    one.mkdir()
    (one / sign).write_bytes((folder / sign).read_bytes())
    d, th = make_daemon(bundle, one, tmp_path)
    try:
        assert ask(d, Press.DOUBLE).text == SAY_READ["no_reader"]
        d.reader = load_reader("ppocr-tesseract")
        a = ask(d, Press.DOUBLE, timeout=60)
        assert a.kind == "text" and accuracy(words(" ".join(truth[sign]["lines"])), words(a.text)) >= 0.8, a
        assert ask(d, Press.LONG).text == a.text  # a long press repeats what was read
        assert ask(d, Press.SHORT).kind in ("caption", "dark", "blurred")  # a single press still describes
    finally:
        stop(d, th)
