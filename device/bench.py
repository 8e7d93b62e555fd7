"""`python -m device bench`: the device goals, measured in one run on this machine, printed as ratios.

caption latency (beam 3)  <= 2.0 x bare encoder invoke     (greedy <= 1.3 x)
press-to-first-audio      <= caption latency + 50 ms
double-press window       delays a single press by <= the window (0.4 s)
daemon peak RSS           <= 150 MB
start to "ready"          <  3 s
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .audio import WavSink
from .button import Press
from .camera import FileCamera
from .captioner import Captioner
from .config import Config, replace
from .daemon import DESCRIPTIONS, Daemon
from .preprocess import preprocess_file
from .speech import EspeakLibrary, Speaker


def _images(folder: str, n: int, size: int, geometry: str) -> list[np.ndarray]:
    """The first n photos of a folder, prepared as the bundle says (its size and geometry)."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    if not files:
        raise SystemExit(f"bench: no JPEG/PNG images in {folder}")
    return [preprocess_file(f, size, geometry) for f in files]


def caption_latency(cap: Captioner, imgs: list[np.ndarray], rounds: int = 3) -> dict:
    """Bare encoder invokes and greedy / beam-3 captions, interleaved image by image, so that the
    ratios compare timings taken under the same machine load (these machines are shared)."""
    enc, cap_ms, steps = [], {1: [], 3: []}, {1: [], 3: []}
    for im in imgs[:1]:  # warm-up: first-call allocations are not what a press costs
        cap.caption(im, beam=1), cap.caption(im, beam=3)
    for _ in range(rounds):
        for im in imgs:
            t0 = time.perf_counter()
            cap.encoder.run({"image": im[None]})
            enc.append((time.perf_counter() - t0) * 1e3)
            for beam in (1, 3):
                c = cap.caption(im, beam=beam)
                cap_ms[beam].append(c.timings_ms["total"])
                steps[beam].append(c.timings_ms["steps"])
    out = {"encoder_ms": float(np.median(enc))}
    for beam in (1, 3):
        out[f"beam{beam}_ms"] = float(np.median(cap_ms[beam]))
        out[f"beam{beam}_steps"] = float(np.median(steps[beam]))
    return out


def _in_process_daemon(bundle: str, images: str, sink) -> tuple[Daemon, threading.Thread]:
    """The daemon in this process, file camera, real espeak-ng library, its loop on a thread."""
    cfg = replace(
        Config(),
        model={"bundle": bundle},
        camera={"source": "files", "path": images},
        speech={"output": "wav", "wav_dir": str(sink.dir)},
        button={"kind": "none"},
    )
    speaker = Speaker(lambda: EspeakLibrary(), sink)
    d = Daemon(cfg, FileCamera(images), speaker, lambda: Captioner(bundle, threads=cfg.model.threads))
    d.start()
    speaker.wait(10)
    th = threading.Thread(target=d.run, daemon=True)
    th.start()
    return d, th


def _close_daemon(d: Daemon, th: threading.Thread) -> None:
    d.request_stop()
    th.join(5)
    d.speaker.close()
    d.close()


def _wait_answer(d: Daemon, k: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(d.answers) == k and time.monotonic() < deadline:
        time.sleep(0.002)
    d.speaker.wait(timeout)


def _caption_audio_ms(d: Daemon, since: float) -> float | None:
    """ms from `since` to the first samples of the last answer, if it was a caption."""
    a = d.answers[-1]
    first = [t for text, t in d.speaker.first_audio if text == a.text and t >= since]
    return (first[0] - since) * 1e3 if a.kind in DESCRIPTIONS and first else None


def press_to_audio(bundle: str, images: str, n: int) -> dict:
    """Press (the daemon's event) -> first caption audio, WAV sink."""
    with tempfile.TemporaryDirectory() as tmp:
        d, th = _in_process_daemon(bundle, images, WavSink(tmp))
        gaps, caps = [], []
        for _ in range(n):
            k = len(d.answers)
            d.press(Press.SHORT)
            _wait_answer(d, k)
            gap = _caption_audio_ms(d, d.answers[-1].press_t)
            if gap is not None:
                gaps.append(gap)
                caps.append(d.answers[-1].caption_ms)
        _close_daemon(d, th)
    return {
        "press_to_audio_ms": float(np.median(gaps)),
        "caption_ms": float(np.median(caps)),
        "overhead_ms": float(np.median(np.array(gaps) - np.array(caps))),
        "presses": len(gaps),
    }


def button_presses(bundle: str, images: str, n: int, window_s: float) -> dict:
    """Through gpiozero's Button on a MockFactory pin, as the daemon wires it: a single press's
    release -> first caption audio without the double-press window (no reader) and with it; and a
    press while a long answer is heard (sink at playback pace) -> silence, with the window on."""
    from gpiozero.pins.mock import MockFactory

    from .audio import PacedWavSink
    from .button import DoublePress, GPIOButton

    def tap(pin) -> float:
        pin.drive_low()
        time.sleep(0.02)
        t0 = time.monotonic()
        pin.drive_high()
        return t0

    factory, out = MockFactory(), {}
    with tempfile.TemporaryDirectory() as tmp:
        d, th = _in_process_daemon(bundle, images, WavSink(tmp))
        for name, pin_no, window in (("no_window_ms", 5, None), ("window_ms", 6, window_s)):
            press = DoublePress(d.press, window, talking=d.talking) if window else d.press
            gaps = []
            with GPIOButton(
                pin_no, press, bounce_ms=0, hold_s=1.0, pin_factory=factory, on_down=press.down if window else None
            ):
                for _ in range(n):
                    k = len(d.answers)
                    t0 = tap(factory.pin(pin_no))
                    _wait_answer(d, k)
                    gap = _caption_audio_ms(d, t0)
                    if gap is not None:
                        gaps.append(gap)
            if window:
                press.close()
            if not gaps:
                raise SystemExit(f"bench: no photo in {images} was described (too dark or blurred?): use other photos")
            out[name] = float(np.median(gaps))
        _close_daemon(d, th)
    with tempfile.TemporaryDirectory() as tmp:
        d, th = _in_process_daemon(bundle, images, PacedWavSink(tmp))
        d.last_description = "this is a long answer that the press cuts short " * 8
        press, stops = DoublePress(d.press, window_s, talking=d.talking), []
        with GPIOButton(7, press, bounce_ms=0, hold_s=1.0, pin_factory=factory, on_down=press.down):
            for _ in range(max(3, n // 3)):
                d.press(Press.LONG)  # repeat: a long answer to interrupt
                deadline = time.monotonic() + 10
                while (
                    not (d.talking() and d.speaker.first_audio[-1][0] == d.last_description)
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.002)
                time.sleep(0.2)
                t0 = tap(factory.pin(7))
                while d.speaker.busy and time.monotonic() < t0 + 10:
                    time.sleep(0.001)
                stops.append((time.monotonic() - t0) * 1e3)
                time.sleep(window_s + 0.2)  # the next press is not the second of a double
        press.close()
        _close_daemon(d, th)
    out["stop_ms"] = float(np.median(stops))
    return out


def daemon_process(bundle: str, images: str, presses: int) -> dict:
    """`python -m device run` as its own process: time to READY=1 (sd_notify) and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "seesay.toml"
        wav = Path(tmp) / "wav"
        conf.write_text(
            f'[model]\nbundle = "{bundle}"\n[camera]\nsource = "files"\npath = "{images}"\n'
            f'[button]\nkind = "keyboard"\n[speech]\noutput = "wav"\nwav_dir = "{wav}"\n'
        )
        sock_path = Path(tmp) / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        sock.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="10000000")
        t0 = time.monotonic()
        p = subprocess.Popen(
            [sys.executable, "-m", "device", "run", "--config", str(conf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "daemon.log", "w"),
            env=env,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        ready = None
        while ready is None:
            msg = sock.recv(4096).decode()
            if "READY=1" in msg:
                ready = time.monotonic() - t0
        for _ in range(presses):
            before = len(list(wav.glob("*.wav")))
            p.stdin.write("\n")
            p.stdin.flush()
            deadline = time.monotonic() + 20
            while len(list(wav.glob("*.wav"))) < before + 2 and time.monotonic() < deadline:  # earcon + caption
                time.sleep(0.01)
            time.sleep(2.5)  # let the caption finish: a press while speaking would mean "stop"
        status = Path(f"/proc/{p.pid}/status").read_text()
        hwm_kb = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
        p.stdin.write("q\n")
        p.stdin.close()
        p.wait(20)
        sock.close()
    return {"start_to_ready_s": ready, "peak_rss_mb": hwm_kb / 1024, "exit_code": p.returncode}


def speech_first_audio(n: int = 10, text: str = "a dog runs across the grass") -> dict:
    """Median ms from asking for a sentence to its first samples: espeak-ng's library through ctypes
    (an engine made once) vs its command (a process per sentence, as the PyPI wrappers do)."""
    from .speech import EspeakCommand, EspeakLibrary

    out = {}
    for name, engine in (("library", EspeakLibrary()), ("command", EspeakCommand())):
        times = []
        for _ in range(n):
            t0, first = time.perf_counter(), []

            def on_pcm(pcm, t0=t0, first=first):
                if not first:
                    first.append((time.perf_counter() - t0) * 1e3)
                return False  # first audio is what is measured: stop there

            engine.synth(text, on_pcm)
            times.append(first[0])
        out[name] = statistics.median(times)
    return out


def read_latency(cap: Captioner, images: str, n: int, threads: int) -> dict | None:
    """Median ms of a double press's reading (detector + Tesseract) on the photos, and of the bare
    encoder in the same run; None when no reader is installed."""
    from PIL import Image

    from .errors import OCRUnavailableError
    from .ocr import load_configured

    try:
        reader = load_configured("auto", threads)
    except OCRUnavailableError:
        return None
    if reader is None:
        return None
    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    frames = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    px = preprocess_file(files[0], cap.bundle.image_size, cap.bundle.geometry)
    reader.read(frames[0])  # warm-up
    read, enc = [], []
    for f in frames:
        t0 = time.perf_counter()
        reader.read(f)
        read.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        cap.encoder.run({"image": px[None]})
        enc.append((time.perf_counter() - t0) * 1e3)
    reader.close()
    return {"engine": reader.name, "read_ms": statistics.median(read), "encoder_ms": statistics.median(enc)}


def bench(bundle: str, images: str, n: int = 30, threads: int = Config().model.threads) -> int:
    """`seesay bench`: latency ratios, press-to-first-audio, reading, memory and start-up of a bundle on
    photos from images (n per measurement, threads for the encoder), printed from one run; -> 0."""
    cap = Captioner(bundle, threads=threads)
    imgs = _images(images, n, cap.bundle.image_size, cap.bundle.geometry)
    lat = caption_latency(cap, imgs)
    rd = read_latency(cap, images, min(n, 15), threads)
    cap.close()
    pa = press_to_audio(bundle, images, min(n, 15))
    window_s = Config().reading.double_press_s
    bp = button_presses(bundle, images, min(n, 10), window_s)
    cost = bp["window_ms"] - bp["no_window_ms"]
    dp = daemon_process(bundle, images, 5)
    sp = speech_first_audio()
    r3, r1 = lat["beam3_ms"] / lat["encoder_ms"], lat["beam1_ms"] / lat["encoder_ms"]
    rows = [
        ("bare encoder invoke", f"{lat['encoder_ms']:.2f} ms", ""),
        (
            "caption, beam 3",
            f"{lat['beam3_ms']:.2f} ms ({lat['beam3_steps']:.0f} steps)",
            f"{r3:.2f} x encoder (goal <= 2.0) {'PASS' if r3 <= 2.0 else 'FAIL'}",
        ),
        ("caption, greedy", f"{lat['beam1_ms']:.2f} ms ({lat['beam1_steps']:.0f} steps)", f"{r1:.2f} x encoder"),
        (
            "press to first caption audio",
            f"{pa['press_to_audio_ms']:.1f} ms",
            f"caption + {pa['overhead_ms']:.1f} ms (goal <= +50) {'PASS' if pa['overhead_ms'] <= 50 else 'FAIL'}",
        ),
        (
            "single press, button to audio",
            f"{bp['no_window_ms']:.0f} ms; {bp['window_ms']:.0f} ms with reading",
            f"the {window_s:.1f} s double-press window costs {cost:.0f} ms (goal <= {window_s * 1e3:.0f}) "
            f"{'PASS' if cost <= window_s * 1e3 else 'FAIL'}",
        ),
        (
            "press while speaking to silence",
            f"{bp['stop_ms']:.1f} ms",
            "with the double-press window on: a stop does not wait",
        ),
        (
            "daemon peak RSS",
            f"{dp['peak_rss_mb']:.1f} MB",
            f"{dp['peak_rss_mb'] / 150:.2f} x 150 MB {'PASS' if dp['peak_rss_mb'] <= 150 else 'FAIL'}",
        ),
        (
            "start to ready",
            f"{dp['start_to_ready_s']:.2f} s",
            f"{dp['start_to_ready_s'] / 3:.2f} x 3 s {'PASS' if dp['start_to_ready_s'] < 3 else 'FAIL'}",
        ),
        (
            "espeak-ng first audio, ctypes",
            f"{sp['library']:.2f} ms",
            f"the command (a process per sentence): {sp['command']:.1f} ms, "
            f"{sp['command'] / max(sp['library'], 1e-3):.0f} x",
        ),
    ]
    if rd:
        rows.append(
            (
                f"read text ({rd['engine']})",
                f"{rd['read_ms']:.1f} ms",
                f"{rd['read_ms'] / rd['encoder_ms']:.1f} x encoder",
            )
        )
    else:
        rows.append(("read text", "no reader installed", "(./install.sh --ocr)"))
    print(f"seesay bench: bundle {bundle}, {len(imgs)} images from {images}, {threads} TFLite thread(s)")
    for name, val, ratio in rows:
        print(f"  {name:30s} {val:28s} {ratio}")
    return 0
