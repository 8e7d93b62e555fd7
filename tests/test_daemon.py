"""The daemon with the real int8 bundle, real espeak-ng and the file camera; only the speaker
(WAV sink) and, in one test, the camera's failure are stand-ins at the hardware edge."""

import os
import json
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import wave

import pytest

from device.audio import PacedWavSink, WavSink
from device.button import GPIOButton, Press
from device.camera import FileCamera
from device.captioner import Captioner
from device.config import Config, replace
from device.daemon import SAY
from device.errors import CameraError

from .conftest import ROOT
from .daemon_kit import ask, make_daemon, stop, wav_said


def test_press_describes_and_long_press_repeats(bundle, scene_dir, tmp_path):
    d, th = make_daemon(bundle, scene_dir, tmp_path)
    assert d.speaker.wait(10) and d.speaker.spoken[0] == SAY["ready"]
    a = ask(d)
    assert a.kind == "caption" and a.text
    r = ask(d, Press.LONG)
    assert r.kind == "repeat" and r.text == a.text
    stop(d, th)
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 4  # ready, earcon + caption, repeat


def test_dark_frame_corrupt_jpeg_and_vanishing_camera_are_spoken(bundle, tmp_path, black_jpeg, corrupt_jpeg, scene_dir):
    folder = tmp_path / "cam"
    folder.mkdir()
    shutil.copy(black_jpeg, folder / "a.jpg")
    shutil.copy(corrupt_jpeg, folder / "b.jpg")
    shutil.copy(next(scene_dir.glob("*.jpg")), folder / "c.jpg")

    class FlakyCamera(FileCamera):  # the camera cable is pulled once, then plugged back
        fail_next = False

        def capture(self):
            if FlakyCamera.fail_next:
                FlakyCamera.fail_next = False
                raise CameraError("camera unplugged")
            return super().capture()

    d, th = make_daemon(bundle, folder, tmp_path, camera=FlakyCamera(folder))
    assert ask(d).text == SAY["covered"]  # black: nothing in view
    assert ask(d).text == SAY["image"]
    assert ask(d).kind == "caption"
    FlakyCamera.fail_next = True
    assert ask(d).text == SAY["camera"]
    assert ask(d).text == SAY["covered"]  # reopened: back to the first file
    stop(d, th)


def test_broken_bundle_is_spoken_and_daemon_lives(bundle, scene_dir, tmp_path):
    b = tmp_path / "broken"
    shutil.copytree(bundle, b)
    data = bytearray((b / "encoder.tflite").read_bytes())
    data[1000] ^= 0xFF
    (b / "encoder.tflite").write_bytes(bytes(data))
    d, th = make_daemon(b, scene_dir, tmp_path, loader=lambda: Captioner(b))
    assert d.speaker.wait(10) and d.speaker.spoken[0] == SAY["no_model"]
    assert ask(d).text == SAY["no_model"]
    assert ask(d).text == SAY["no_model"]
    stop(d, th)


def test_a_camera_that_returns_nothing_or_an_empty_frame_and_a_sink_that_fails_to_stop_cost_one_answer(
    bundle, scene_dir, tmp_path
):
    """Faults nobody planned for, at the hardware edge: a driver handing back None, then an empty
    frame; a sound device that errors when speech is cut. Each press still gets its one answer and
    the daemon goes on describing."""
    import numpy as np

    class OddCamera(FileCamera):
        frames = [None, np.zeros((0, 0, 3), np.uint8), [[0, 0, 0]]]

        def capture(self):
            return OddCamera.frames.pop(0) if OddCamera.frames else super().capture()

    class StubbornSink(PacedWavSink):  # errors when cut
        def abort(self):
            super().abort()
            raise OSError("sound device busy")

    d, th = make_daemon(bundle, scene_dir, tmp_path, camera=OddCamera(scene_dir), sink=StubbornSink(tmp_path / "wav"))
    assert ask(d).text == SAY["camera"]  # None: no frame
    assert ask(d).text == SAY["image"]  # 0x0 pixels: a frame it cannot read
    assert ask(d).text == SAY["model"]  # a list, not an array: nothing the code knows, said as a failure
    assert ask(d).kind == "caption"
    d.speaker.say("a long sentence to interrupt " * 20)  # as if the caption were that long
    time.sleep(0.2)
    d.press(Press.SHORT)  # stops the speech; the sink's error on abort must not end the daemon
    end = time.monotonic() + 10
    while d.stats["stops"] == 0 and time.monotonic() < end:
        time.sleep(0.01)
    assert d.stats["stops"] == 1 and th.is_alive()
    assert ask(d).kind == "caption"
    assert d.stats["accepted"] == d.stats["answers"] == 5
    stop(d, th)


def test_failing_speaker_does_not_kill_the_daemon(bundle, scene_dir, tmp_path):
    class DeadSink(WavSink):
        def begin(self, rate):
            raise OSError("speaker unplugged")

    d, th = make_daemon(bundle, scene_dir, tmp_path, sink=DeadSink(tmp_path / "w"))
    for _ in range(3):
        assert ask(d).kind == "caption"
    assert th.is_alive()
    stop(d, th)


@pytest.mark.slow
def test_300_random_presses_with_bursts_and_holds_get_exactly_one_answer_each(bundle, scene_dir, tmp_path):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    d, th = make_daemon(bundle, scene_dir, tmp_path)
    d.speaker.wait(10)
    rng = random.Random(0)
    with GPIOButton(22, d.press, bounce_ms=0, hold_s=0.15, pin_factory=factory):
        pin = factory.pin(22)
        presses = 0
        while presses < 300:
            r = rng.random()
            if r < 0.1:  # a burst of 20 within a second
                for _ in range(20):
                    pin.drive_low()
                    time.sleep(0.01)
                    pin.drive_high()
                    time.sleep(0.02)
                presses += 20
            elif r < 0.2:  # a long hold
                pin.drive_low()
                time.sleep(0.3)
                pin.drive_high()
                presses += 1
            else:
                pin.drive_low()
                time.sleep(0.01)
                pin.drive_high()
                time.sleep(rng.uniform(0.0, 0.08))
                presses += 1
        end = time.monotonic() + 60
        while (not d.events.empty() or d.state.value in ("capturing", "thinking")) and time.monotonic() < end:
            time.sleep(0.05)
    d.speaker.wait(30)
    s = d.stats
    stop(d, th)
    Device.pin_factory = None
    assert s["presses"] == presses  # the daemon heard every press the pin made, no more
    # every press was accepted (one answer each), stopped speech, or was coalesced/dropped while busy;
    # a hold while speaking both stops and is accepted (it repeats), hence the range
    assert s["accepted"] == s["answers"] == len(d.answers)
    handled = s["accepted"] + s["coalesced"] + s["dropped"]
    assert handled <= s["presses"] <= handled + s["stops"]
    assert s["accepted"] > 20


def _rss_mb():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) / 1024


@pytest.mark.slow
def test_500_captions_in_a_row_do_not_grow_memory(bundle, scene_dir, tmp_path):
    d, th = make_daemon(bundle, scene_dir, tmp_path)
    d.speaker.wait(10)
    for _ in range(20):
        ask(d)
    before = _rss_mb()
    for _ in range(500):
        ask(d)  # one answer per press: a caption, or a hint for a plain (blurred-looking) scene
    growth = _rss_mb() - before
    stop(d, th)
    print(f"RSS growth over 500 presses: {growth:.1f} MB, {len(d.answers)} answers")
    assert growth < 10


def test_run_under_sd_notify_ready_watchdog_and_sigterm(bundle, scene_dir, tmp_path):
    conf = tmp_path / "seesay.toml"
    conf.write_text(
        f'[model]\nbundle = "{bundle}"\n[camera]\nsource = "files"\npath = "{scene_dir}"\n'
        f'[button]\nkind = "none"\n[speech]\noutput = "wav"\nwav_dir = "{tmp_path / "wav"}"\n'
    )
    sock_path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="800000")
    p = subprocess.Popen(
        [sys.executable, "-m", "device", "run", "--config", str(conf)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    msgs = []
    while not any("WATCHDOG=1" in m for m in msgs) or not any("READY=1" in m for m in msgs):
        msgs.append(sock.recv(1024).decode())
    p.send_signal(signal.SIGTERM)
    while not any("STOPPING=1" in m for m in msgs):
        msgs.append(sock.recv(1024).decode())
    assert p.wait(20) == 0
    assert "seesay stopped" in p.stderr.read()


def test_daemon_whose_button_cannot_be_set_up_says_so_and_exits_with_the_fix(bundle, scene_dir, tmp_path):
    """Not "Ready." and then a traceback: the wearer hears that the button is not working, the log
    says how to fix it, and the exit code lets systemd retry."""
    from device.app import make_speaker

    wav, ref = tmp_path / "wav", tmp_path / "ref"
    conf = tmp_path / "seesay.toml"
    conf.write_text(
        f'[model]\nbundle = "{bundle}"\n[camera]\nsource = "files"\npath = "{scene_dir}"\n'
        f'[button]\nkind = "gpio"\n[speech]\noutput = "wav"\nwav_dir = "{wav}"\n'
    )
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="no-such-pin-library")
    r = subprocess.run(
        [sys.executable, "-m", "device", "run", "--config", str(conf)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "error: the button on GPIO17 could not be set up" in r.stderr and "python3-lgpio" in r.stderr
    assert "Traceback" not in r.stderr
    said = sorted(wav.glob("*.wav"))
    assert len(said) == 1, said
    # which sentence it was, by its length against both candidates made by the same speech settings
    speaker = make_speaker(replace(Config(), speech={"output": "wav", "wav_dir": str(ref)}))
    lengths = {}
    for key in ("button", "ready"):
        speaker.say(SAY[key])
        assert speaker.wait(10)
        lengths[key] = _seconds(sorted(ref.glob("*.wav"))[-1])
    speaker.close()
    got = _seconds(said[0])
    assert abs(got - lengths["button"]) < 0.1 < abs(got - lengths["ready"]), (got, lengths)


def _seconds(path):
    """Seconds of audio in a WAV file; 0 while it is still being written (its header not final)."""
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / w.getframerate()
    except (EOFError, wave.Error):
        return 0.0


def test_check_config_cli(tmp_path):
    good, bad = tmp_path / "g.toml", tmp_path / "b.toml"
    good.write_text('[model]\nbeam = 1\n')
    bad.write_text('[model]\nbeem = 1\n')
    r = subprocess.run(
        [sys.executable, "-m", "device", "run", "--config", str(good), "--check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "config OK" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "device", "run", "--config", str(bad), "--check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "model.beem" in r.stderr


def test_doctor_reports_each_part(bundle, scene_dir, tmp_path):
    conf = tmp_path / "seesay.toml"
    conf.write_text(
        f'[model]\nbundle = "{bundle}"\n[camera]\nsource = "files"\npath = "{scene_dir}"\n'
        f'[button]\nkind = "none"\n[speech]\noutput = "wav"\nwav_dir = "{tmp_path}"\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "device", "doctor", "--config", str(conf)], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for part in ("config", "bundle", "backend", "camera", "speech synthesis", "audio output", "button"):
        assert f"[ OK ] {part}:" in r.stdout
    assert "[warn] Edge TPU" in r.stdout  # not installed here, and not required by this config
    conf.write_text(conf.read_text().replace(str(bundle), str(tmp_path / "nobundle")))
    r = subprocess.run(
        [sys.executable, "-m", "device", "doctor", "--config", str(conf)], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 1 and "[FAIL] bundle" in r.stdout and "some checks failed" in r.stdout


def _mount_namespaces() -> bool:
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(
    not _mount_namespaces(), reason="needs a private mount namespace (unshare -m, as root) to make / read-only"
)
@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_the_daemon_answers_with_a_read_only_root_and_state_or_a_full_disk(bundle, scene_dir, tmp_path, disk):
    """As with the overlay root the README recommends (/ and /var/lib/seesay read-only), or with every
    place it could write full: it answers every press and writes nothing it needs. Only the sound
    folder (the speaker edge: a WAV per sentence, a sound card on the device) stays writable."""
    state, sound, tmp = tmp_path / "state", tmp_path / "sound", tmp_path / "tmp"
    shutil.copytree(bundle, tmp_path / "staged" / "bundle")
    for d in (state, sound, tmp):
        d.mkdir()
    conf = tmp_path / "seesay.toml"
    conf.write_text(
        f'[model]\nbundle = "{state / "bundle"}"\n[camera]\nsource = "files"\npath = "{scene_dir}"\n'
        f'[button]\nkind = "keyboard"\n[speech]\noutput = "wav"\nwav_dir = "{sound}"\nearcons = false\n'
        '[behaviour]\nmin_brightness = 10.0\nmin_highlight = 0.0\nmin_detail = 0.0\ncaption_min_logprob = -20.0\n'
        '[reading]\nengine = "none"\n'  # one WAV a press: no text read after the description
    )
    size_k = sum(f.stat().st_size for f in (tmp_path / "staged" / "bundle").iterdir()) // 1024 + 64
    if disk == "read-only":
        setup = (
            f"cp -r {tmp_path / 'staged' / 'bundle'} {state}/ && mount --bind {state} {state} && mount -o "
            f"remount,bind,ro {state}\n"
            f"mount --bind {sound} {sound}\nmount -o remount,bind,ro /\n"
            f"! touch {tmp}/probe 2>/dev/null && ! touch {state}/probe 2>/dev/null || exit 90\n"
        )
    else:  # every place it could write: tmpfs filled to the last block
        setup = (
            f"mount -t tmpfs -o size={size_k}k tmpfs {state} && cp -r {tmp_path / 'staged' / 'bundle'} {state}/\n"
            f"mount -t tmpfs -o size=64k tmpfs {tmp}\n"
            f"for d in {state} {tmp}; do dd if=/dev/zero of=$d/fill bs=4k 2>/dev/null || true; done\n"  # dd: to "no space left"
            f"! echo x 2>/dev/null >{state}/probe || exit 90\n"
        )
    script = (
        f"set -e\nmount --make-rprivate /\n{setup}exec {sys.executable} -m device run --config {conf} --answers-json\n"
    )
    env = dict(os.environ, TMPDIR=str(tmp), HOME=str(tmp))
    p = subprocess.Popen(
        ["unshare", "-m", "bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    records = AnswerRecords(p)
    assert records.next(60) == {"event": "ready"}, f"not ready (exit {p.poll()})"
    wav_said(sound)  # "Ready." said: a press while it talks would only stop it
    answers = []
    for k in range(3):
        p.stdin.write("\n")
        p.stdin.flush()
        answers.append(records.next(60))
        wav_said(sound, 2 + k)  # "Ready." and one WAV per answer (no earcons here)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-2000:]
    assert [a["kind"] for a in answers] == ["caption"] * 3 and "Traceback" not in err, (answers, err[-2000:])
    assert "Read-only file system" not in err and "No space left" not in err, err[-2000:]


class AnswerRecords:
    """`device run --answers-json` read as it happens: each JSON line is an event to wait on."""

    def __init__(self, p):
        self.p, self.lines = p, queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in p.stdout], daemon=True).start()

    def next(self, timeout: float) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            self.p.kill()
            err = self.p.stderr.read()[-3000:] if self.p.stderr else ""
            raise AssertionError(f"no answer record within {timeout} s (exit {self.p.poll()}): {err}") from None
