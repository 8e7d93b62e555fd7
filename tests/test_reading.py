"""Reading text: the double press (gpiozero MockFactory), what is said, the real OCR engines on
seeded text scenes rendered over the repository's sample photos, and the daemon's read path."""

import importlib.util
import threading
import time

import numpy as np
import pytest
from PIL import Image

from device.button import DoublePress, GPIOButton, Press
from device.frame_check import ADVICE
from device.ocr import TextLine, reading_order
from device.reading import SAY_READ, read_answer
from evaluation.ocr_eval import word_accuracy
from evaluation.text_scenes import make_text_scenes

from .conftest import ROOT
from .daemon_kit import PERMISSIVE, Events, ask, make_daemon, stop, tap

HAVE_PPOCR = importlib.util.find_spec("tesserocr")
need_ppocr = pytest.mark.skipif(not HAVE_PPOCR, reason="tesserocr not installed (requirements-host.txt)")


@pytest.fixture
def button():
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    ev = Events()
    dp = DoublePress(ev, window_s=0.3)
    b = GPIOButton(17, dp, bounce_ms=0, hold_s=0.6, pin_factory=factory, on_down=dp.down)
    yield factory.pin(17), ev, dp
    b.close()
    dp.close()


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
    assert ev.got[-1][1] - t0 >= 0.3  # a lone press waits out the window (how long after: the bench measures)


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


def test_the_window_counts_from_the_first_press_going_down(button):
    pin, ev, _ = button  # window 0.3 s, hold 0.6 s
    t0 = time.monotonic()
    tap(pin, 0.2)  # a slow single press: answered 0.3 s after it went down, 0.1 s after its release
    assert ev.wait(1) == [Press.SHORT]
    assert ev.got[-1][1] - t0 >= 0.3  # the window counts from going down: never before it closes
    tap(pin, 0.03)
    time.sleep(0.15)
    tap(pin, 0.25)  # the second press starts within the window and ends after it: still a double
    assert ev.wait(2) == [Press.SHORT, Press.DOUBLE]
    tap(pin, 0.03)
    time.sleep(0.1)
    tap(pin, 0.8)  # a hold as the second press: the first press was a single, then the hold repeats
    assert ev.wait(4, 3) == [Press.SHORT, Press.DOUBLE, Press.SHORT, Press.LONG]
    time.sleep(0.5)
    assert len(ev.got) == 4


def test_three_quick_presses_are_a_double_then_a_single():
    ev = Events()
    dp = DoublePress(ev, window_s=0.2)
    for _ in range(3):
        dp(Press.SHORT)
    assert ev.wait(2) == [Press.DOUBLE, Press.SHORT]
    dp.close()


def test_a_press_while_it_talks_stops_at_once_and_a_second_press_still_makes_a_double():
    from gpiozero.pins.mock import MockFactory

    factory, ev, talking = MockFactory(), Events(), threading.Event()
    talking.set()
    dp = DoublePress(ev, window_s=1.5, talking=talking.is_set)
    with GPIOButton(17, dp, bounce_ms=0, hold_s=1.0, pin_factory=factory, on_down=dp.down):
        pin = factory.pin(17)
        tap(pin)
        assert ev.wait(1, timeout=1.0) == [Press.SHORT]  # the stop, long before the 1.5 s window closes
        tap(pin)
        assert ev.wait(2) == [Press.SHORT, Press.DOUBLE]  # and the window was open: a double
        tap(pin)  # a lone press while it talks: its stop, and nothing more when the window closes
        assert ev.wait(3, timeout=1.0)[-1] is Press.SHORT
        time.sleep(1.8)
        assert len(ev.got) == 3
        talking.clear()  # quiet again: a single press waits out the window, as before
        t0 = time.monotonic()
        tap(pin)
        assert ev.wait(4, timeout=3)[-1] is Press.SHORT and ev.got[-1][1] - t0 >= 1.5
    dp.close()


def test_the_daemon_stops_talking_on_the_first_press_of_a_double_then_reads(bundle, text_scenes, tmp_path):
    """DoublePress wired as run_daemon wires it: the first press cuts a long answer short at once,
    the second makes it a double press, answered by the reader."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from device.ocr import load_reader

    from device.audio import PacedWavSink

    folder, truth = text_scenes
    d, th = make_daemon(bundle, folder, tmp_path, sink=PacedWavSink(tmp_path / "wav"))
    d.reader = load_reader("ppocr-tesseract") if HAVE_PPOCR else None
    factory = MockFactory()
    dp = DoublePress(d.press, 1.0, talking=d.talking)
    try:
        with GPIOButton(24, dp, bounce_ms=0, hold_s=0.3, pin_factory=factory, on_down=dp.down):
            pin = factory.pin(24)
            d.speaker.wait(10)
            d.last_description = "a long description " * 40
            tap(pin, 0.5)  # a hold: repeat it
            end = time.monotonic() + 10
            while not d.talking() and time.monotonic() < end:
                time.sleep(0.005)
            assert d.talking()
            n = len(d.answers)
            tap(pin)
            end = time.monotonic() + 0.8  # before the 1 s window closes
            while d.stats["stops"] == 0 and time.monotonic() < end:
                time.sleep(0.005)
            assert d.stats["stops"] == 1 and len(d.answers) == n
            tap(pin)
            end = time.monotonic() + 60
            while len(d.answers) == n and time.monotonic() < end:
                time.sleep(0.01)
            assert len(d.answers) == n + 1 and d.answers[-1].asked == "double", d.answers[-1]
    finally:
        dp.close()
        stop(d, th)
        Device.pin_factory = None


def test_reading_order_joins_pieces_of_a_row_left_to_right_then_rows_top_down():
    pieces = [
        TextLine("world", (120, 10, 200, 30), 0.9),
        TextLine("Hello", (10, 12, 100, 31), 0.9),
        TextLine("below", (10, 50, 90, 70), 0.9),
    ]
    assert [l.text for l in reading_order(pieces)] == ["Hello world", "below"]


def test_a_line_crop_is_softened_and_stretched_to_full_contrast_before_tesseract():
    from device.ocr.ppocr_tesseract import smooth

    rng = np.random.default_rng(0)
    dim = np.full((60, 240), 120.0)
    dim[30:50, 20:220] = 150  # a faint bar on grey (a stroke), plus sensor noise
    line = Image.fromarray(np.clip(dim + rng.normal(0, 10, dim.shape), 0, 255).astype(np.uint8))
    before, after = np.asarray(line, np.float64), np.asarray(smooth(line), np.float64)
    assert after.shape == before.shape
    assert after.min() == 0 and after.max() == 255  # stretched to full contrast
    noise, bar = (slice(5, 25), slice(20, 220)), (slice(33, 47), slice(25, 215))
    snr = lambda a: (a[bar].mean() - a[noise].mean()) / a[noise].std()  # noqa: E731
    assert snr(after) > 2 * snr(before)  # the noise is softened, not stretched with the stroke


def test_the_detector_sees_the_frame_at_twice_its_contrast_about_its_mean_grey():
    from device.ocr.ppocr_tesseract import boost

    frame = np.full((48, 64, 3), 100, np.uint8)
    frame[:, 32:] = 140  # mean grey 120: 100 -> 80 and 140 -> 160
    out = boost(frame).astype(int)
    assert out.shape == frame.shape
    assert abs(out[0, 0, 0] - 80) <= 1 and abs(out[0, -1, 0] - 160) <= 1
    assert boost(np.full((8, 8, 3), 250, np.uint8)).max() <= 255  # clipped, never wrapped


def test_what_is_said_for_text_none_small_and_a_dark_frame():
    from device.frame_check import FrameCheckSettings

    fc = FrameCheckSettings()
    grey = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    text, kind = read_answer(
        [TextLine("EXIT", (0, 0, 80, 40), 0.9), TextLine("Platform 4", (0, 50, 90, 80), 0.9)], grey, fc
    )
    assert (text, kind) == ("EXIT. Platform 4.", "text")
    assert read_answer([], grey, fc) == (SAY_READ["no_text"], "no_text")
    assert read_answer([TextLine("Exit", (0, 0, 20, 6), 0.9)], grey, fc) == (SAY_READ["small"], "small")
    assert read_answer([TextLine("~ |", (0, 0, 80, 40), 0.9)], grey, fc) == (SAY_READ["no_text"], "no_text")
    dim = (np.random.default_rng(1).integers(0, 255, (224, 224, 3)) * 0.15).astype(np.uint8)
    assert read_answer([], dim, fc)[1] == "dark"
    assert read_answer([], np.zeros((224, 224, 3), np.uint8), fc)[1] == "covered"


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
        acc[t["difficulty"]].append(word_accuracy(t["lines"], " ".join(l.text for l in lines)))
    reader.close()
    assert np.mean(acc["clean"]) >= 0.85, acc
    assert np.mean(acc["hard"]) >= 0.5, acc
    # the photo alone has no text
    assert read_answer(
        load_reader("ppocr-tesseract").read(np.asarray(Image.open(ROOT / "samples/cat.jpg"))),
        np.full((224, 224, 3), 128, np.uint8),
        None,
    )[1] in ("no_text", "small")


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
        assert a.kind == "text" and word_accuracy(truth[sign]["lines"], a.text) >= 0.8, a
        assert ask(d, Press.LONG).text == a.text  # a long press repeats what was read
        assert ask(d, Press.SHORT).kind in ("caption", "dark", "blurred")  # a single press still describes
    finally:
        stop(d, th)


READ_KINDS = {"text", "no_text", "small", "no_reader", "failed", "camera", "image", *ADVICE}  # ADVICE: the frame check


@need_ppocr
@pytest.mark.slow
def test_300_presses_with_double_presses_mixed_in_get_exactly_one_answer_each(bundle, scene_dir, text_scenes, tmp_path):
    """The press storm of test_daemon, through DoublePress as the daemon runs it with a reader, over
    photos with and without text: every accepted press, double press and hold answered once."""
    import collections
    import random
    import shutil

    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from device.ocr import load_reader

    folder, truth = text_scenes
    images = tmp_path / "images"
    shutil.copytree(scene_dir, images)
    for k in list(truth)[:3]:
        shutil.copy(folder / k, images / f"text_{k}")
    d, th = make_daemon(bundle, images, tmp_path)
    d.reader = load_reader("ppocr-tesseract", threads=2)
    d.speaker.wait(10)
    emitted = collections.Counter()

    def to_daemon(kind):
        emitted[kind] += 1
        d.press(kind)

    factory, rng = MockFactory(), random.Random(1)
    double = DoublePress(to_daemon, 0.25, talking=d.talking)
    taps = 0
    with GPIOButton(23, double, bounce_ms=0, hold_s=0.15, pin_factory=factory, on_down=double.down):
        pin = factory.pin(23)
        while taps < 300:
            r = rng.random()
            if r < 0.2:  # a double press
                tap(pin, 0.02), time.sleep(0.05), tap(pin, 0.02)
                taps += 2
            elif r < 0.25:  # a burst of 10, faster than any window
                for _ in range(10):
                    tap(pin, 0.01)
                    time.sleep(0.02)
                taps += 10
            elif r < 0.35:  # a hold
                tap(pin, 0.3)
                taps += 1
            else:
                tap(pin, 0.01)
                taps += 1
            time.sleep(rng.uniform(0.0, 0.4))  # sometimes past the window, sometimes within it
        time.sleep(0.5)  # the last lone press's window
        end = time.monotonic() + 90
        while (not d.events.empty() or d.state.value in ("capturing", "thinking")) and time.monotonic() < end:
            time.sleep(0.05)
    d.speaker.wait(30)
    s, answers = d.stats, list(d.answers)
    stop(d, th)
    double.close()
    Device.pin_factory = None
    assert s["presses"] == sum(emitted.values())  # every event DoublePress made reached the daemon
    assert emitted[Press.DOUBLE] > 20 and emitted[Press.SHORT] > 20 and emitted[Press.LONG] > 5, emitted
    assert s["accepted"] == s["answers"] == len(answers)  # one answer per accepted press
    handled = s["accepted"] + s["coalesced"] + s["dropped"]
    assert handled <= s["presses"] <= handled + s["stops"]
    by = collections.Counter(a.asked for a in answers)
    assert by["double"] == s["accepted_double"] > 5 and by["short"] == s["accepted_short"], (by, s)
    assert all(a.kind in READ_KINDS for a in answers if a.asked == "double")
    assert any(a.kind == "text" for a in answers if a.asked == "double")


@need_ppocr
def test_a_description_of_a_frame_with_clear_text_ends_with_what_it_says_and_one_without_does_not(
    bundle, text_scenes, tmp_path
):
    import shutil

    from device.answer import text_part
    from device.ocr import load_reader

    folder, truth = text_scenes
    sign = next(k for k, t in truth.items() if t["kind"] == "sign" and t["difficulty"] == "clean")
    one = tmp_path / "sign"
    one.mkdir()
    shutil.copy(folder / sign, one / sign)
    d, th = make_daemon(bundle, one, tmp_path)
    d.reader = load_reader("ppocr-tesseract", threads=2)
    try:
        a = ask(d, Press.SHORT, timeout=60)
        end = time.monotonic() + 60  # the text is read while the description is said, then queued after it
        while not d.stats["texts"] and time.monotonic() < end:
            time.sleep(0.02)
        d.speaker.wait(30)
        assert a.kind in ("caption", "objects", "not_sure") and d.stats["texts"] == 1, d.speaker.spoken
        said = d.speaker.spoken[-1]
        assert said.startswith("It says: ") and said == text_part(said[len("It says: ") :]), said
        assert word_accuracy(truth[sign]["lines"], said[len("It says: ") :]) >= 0.8, (said, truth[sign]["lines"])
        assert d.last_description.endswith(said) and d.stats["answers"] == d.stats["accepted"] == 1
    finally:
        stop(d, th)
    plain = np.asarray(Image.open(ROOT / "samples/cat.jpg").convert("RGB"))
    reader = load_reader("ppocr-tesseract", threads=2)
    assert not reader.has_text(plain)
    reader.close()


@need_ppocr
def test_bench_measures_read_latency_against_the_encoder(bundle, text_scenes):
    from device.bench import read_latency
    from device.captioner import Captioner

    folder, _ = text_scenes
    cap = Captioner(bundle)
    r = read_latency(cap, str(folder), 3, 2)
    cap.close()
    assert r["engine"] == "ppocr-tesseract" and r["read_ms"] > r["encoder_ms"] > 0


def test_bench_pays_the_window_on_a_single_press_and_not_on_a_stop(bundle, text_scenes):
    from device.bench import button_presses

    folder, _ = text_scenes
    r = button_presses(str(bundle), str(folder), 3, 0.3)
    # what the bench reports, not how fast this machine is: each figure measured, the window's cost printed
    assert r["window_ms"] > 0 and r["no_window_ms"] > 0 and r["stop_ms"] > 0


@need_ppocr
def test_run_daemon_wires_the_gpio_button_through_double_press(bundle, text_scenes, tmp_path):
    """The daemon as `device run` builds it, on a MockFactory pin: a tap describes, two taps read.
    Waited on through run_daemon's on_ready / on_answer records, never its log lines."""
    import os
    import signal

    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from device.app import run_daemon
    from device.config import Config, replace

    folder, _ = text_scenes
    cfg = replace(
        Config(),
        model={"bundle": str(bundle)},
        camera={"source": "files", "path": str(folder)},
        speech={"output": "wav", "wav_dir": str(tmp_path / "wav")},
        button={"kind": "gpio", "pin": 25, "bounce_ms": 0},
        behaviour=PERMISSIVE,
    )
    factory, ready, answers, cond = MockFactory(), threading.Event(), [], threading.Condition()

    def on_answer(a):
        with cond:
            answers.append(a)
            cond.notify_all()

    def answered(n, timeout=60):
        with cond:
            return cond.wait_for(lambda: len(answers) >= n, timeout)

    def presses():
        try:
            assert ready.wait(60)
            pin = factory.pin(25)
            tap(pin)
            assert answered(1)
            time.sleep(3)  # the caption is being said (WAV at playback pace): a press now would be a stop
            tap(pin), time.sleep(0.1), tap(pin)
            assert answered(2)
        finally:  # run_daemon is still running: SIGTERM is its stop
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    th = threading.Thread(target=presses, daemon=True)
    th.start()
    try:
        assert run_daemon(cfg, pin_factory=factory, on_answer=on_answer, on_ready=ready.set) == 0
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
        Device.pin_factory = None
    th.join(5)
    assert [(a.asked, a.kind) for a in answers] == [("short", "caption"), ("double", "text")], answers
