"""Nothing lost, nothing hung: the probes of a hostile new user, each a regression test."""

import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from device.audio import WavSink
from device.errors import ConfigError, ImageError, SpeechError
from device.preprocess import load_image

from .conftest import ROOT
from .daemon_kit import PERMISSIVE, wav_said


def _caption_cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "device", "caption", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_wav_never_overwrites_or_deletes_a_users_file(bundle, scene_dir, tmp_path):
    photo = next(scene_dir.glob("*.jpg"))
    mine = tmp_path / "0000.wav"
    mine.write_bytes(b"my recording")
    taken = tmp_path / "taken.wav"
    taken.write_bytes(b"mine too")
    r = _caption_cli(photo, photo, "--bundle", bundle, "--wav", taken)
    assert r.returncode == 2 and "already exists" in r.stderr and taken.read_bytes() == b"mine too"
    r = _caption_cli(photo, photo, "--bundle", bundle, "--wav", tmp_path / "out.wav")
    assert r.returncode == 0, r.stderr
    assert mine.read_bytes() == b"my recording"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0000.wav", "out.wav", "taken.wav"]  # no stray files


def test_wav_numbering_goes_on_after_the_highest_file_and_a_second_daemon_is_refused(tmp_path):
    (tmp_path / "0007.wav").write_bytes(b"x")
    s = WavSink(tmp_path, exclusive=True)
    s.begin(16000), s.write(np.zeros(160, np.int16)), s.end()
    assert s.files[-1].name == "0008.wav" and (tmp_path / "0007.wav").read_bytes() == b"x"
    with pytest.raises(SpeechError, match="in use by another seesay"):
        WavSink(tmp_path, exclusive=True)
    with pytest.raises(SpeechError, match="cannot be made"):
        WavSink("/proc/no-such/wav")


def test_a_config_that_is_a_folder_or_not_utf8_is_one_error_line(tmp_path):
    from device.config import load_config

    with pytest.raises(ConfigError, match="not a file"):
        load_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[model]\nbeam = 3\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)
    r = subprocess.run(
        [sys.executable, "-m", "device", "run", "--config", str(bad), "--check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not UTF-8" in r.stderr


def test_out_of_range_settings_are_refused_by_name(tmp_path):
    from device.config import load_config

    for table, key, value in (
        ("behaviour", "object_min_p", "7.0"),
        ("behaviour", "max_glare", "nan"),
        ("behaviour", "max_objects", "-3"),
        ("behaviour", "min_brightness", "300.0"),
    ):
        f = tmp_path / f"{key}.toml"
        f.write_text(f"[{table}]\n{key} = {value}\n")
        with pytest.raises(ConfigError, match=key):
            load_config(f)


def test_a_fifo_named_like_a_photo_is_refused_without_reading(bundle, tmp_path):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(fifo)
    r = _caption_cli(fifo, "--bundle", bundle, timeout=60)  # would hang reading a pipe nobody writes
    assert r.returncode == 2 and "not a regular file" in r.stderr


def test_16_bit_32_bit_and_float_greys_become_8_bits_by_their_range():
    def png(a):
        b = io.BytesIO()
        Image.fromarray(a).save(b, format="PNG" if a.dtype == np.uint16 else "TIFF")
        return b.getvalue()

    # worked by hand: 16-bit v -> round(v / 257); 32-bit and float: (v - min) / (max - min) * 255
    got = np.asarray(load_image(png(np.array([[0, 257, 32768, 65535]], np.uint16))))[..., 0]
    assert got.tolist() == [[0, 1, 128, 255]]
    got = np.asarray(load_image(png(np.array([[100, 200, 300]], np.int32))))[..., 0]
    assert got.tolist() == [[0, 128, 255]]
    got = np.asarray(load_image(png(np.array([[0.0, 0.5, 1.0]], np.float32))))[..., 0]
    assert got.tolist() == [[0, 128, 255]]


def _daemon(bundle, scene_dir, tmp_path):
    conf = tmp_path / "seesay.toml"
    behaviour = "".join(f"{k} = {v}\n" for k, v in PERMISSIVE.items())
    conf.write_text(
        f'[model]\nbundle = "{bundle}"\n[camera]\nsource = "files"\npath = "{scene_dir}"\n'
        f'[button]\nkind = "keyboard"\n[speech]\noutput = "wav"\nwav_dir = "{tmp_path / "wav"}"\n'
        f'[behaviour]\n{behaviour}'
    )
    return subprocess.Popen(
        [sys.executable, "-m", "device", "run", "--config", str(conf), "--answers-json"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_keyboard_bytes_that_are_not_utf8_are_ignored_and_q_still_stops(bundle, scene_dir, tmp_path):
    p = _daemon(bundle, scene_dir, tmp_path)
    assert json.loads(p.stdout.readline()) == {"event": "ready"}
    wav_said(tmp_path / "wav")
    p.stdin.write(b"\xff\xfe\x80\n")
    p.stdin.write(b"\n")
    p.stdin.flush()
    answer = json.loads(p.stdout.readline())
    p.stdin.write(b"q\n")
    p.stdin.close()
    assert p.wait(60) == 0
    err = p.stderr.read().decode()
    assert answer["asked"] == "short" and "not UTF-8" in err and "Traceback" not in err


def test_sighup_stops_cleanly_with_the_exit_code_that_makes_systemd_start_it_anew(bundle, scene_dir, tmp_path):
    from device.app import RELOAD_EXIT

    p = _daemon(bundle, scene_dir, tmp_path)
    assert json.loads(p.stdout.readline()) == {"event": "ready"}
    p.send_signal(signal.SIGHUP)
    assert p.wait(60) == RELOAD_EXIT
    err = p.stderr.read().decode()
    assert "SIGHUP" in err and "Traceback" not in err
