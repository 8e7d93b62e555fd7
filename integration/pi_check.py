"""`./run.sh pi-check`: the device side on the Pi's own software, Debian Bookworm arm64 under qemu.

In a fresh copy of a debootstrapped root, as a user would on a Pi: install.sh (twice: the second
run must change nothing), the installed `device verify`, `doctor` and `caption`, the captions of
real photos compared with this machine's (same bundle, same photos), and the daemon started by the
installed unit's own ExecStart line with a file camera, the keyboard button and WAV speech; then
reading: install.sh --ocr (twice), doctor's reading line, and `device read` on seeded text scenes
compared with this machine's reading of the same files, and a double press to the daemon.
Fails loudly (exit 1) at the first step that does not hold. Prints no timings: emulated."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

from . import arm64
from .arm64 import INSTALLED_PYTHON, REPO, answers, caption_args, run_device, run_in
from convert.conversion_errors import ConvertError

SRC_INSIDE = "/root/seesay"  # where the clone sits in the root, as a user's checkout would
BLEU4_POINTS, CIDER_DELTA = 0.5, 0.02  # how far the arm64 captions may score from the x86 ones
TEXT_SCENES = 60  # read in the root: a few seconds a frame under qemu, so a quarter of the 240 of the test set
WORD_POINTS = 5.0  # how far the arm64 reader's word accuracy (each half) may be from the x86 one's


class PiCheckFailed(ConvertError):
    pass


def _step(name: str):
    print(f"\n== {name}", flush=True)


def _expect(cond: bool, what: str, r: subprocess.CompletedProcess | None = None) -> None:
    if not cond:
        tail = f"\n--- stdout ---\n{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-3000:]}" if r is not None else ""
        raise PiCheckFailed(f"pi-check: {what}{tail}")
    print(f"  ok: {what}")


def copy_checkout(root: Path) -> None:
    """The files a fresh clone has (tracked, plus new ones not ignored), as they are now."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    dst = root / SRC_INSIDE.lstrip("/")
    shutil.rmtree(dst, ignore_errors=True)
    for f in filter(None, files):
        if (REPO / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dst / f)


def dev_photos(data: Path, n: int) -> tuple[list[Path], dict[str, list[str]]]:
    """The first n photos of the dev split and every reference caption of each."""
    names = [l.strip() for l in (data / "splits" / "dev.txt").read_text().splitlines() if l.strip()][:n]
    refs: dict[str, list[str]] = {k: [] for k in names}
    with open(data / "captions.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["image"] in refs:
                refs[row["image"]].append(row["caption"])
    return [data / "images" / k for k in names], refs


def x86_captions(bundle: Path, photos: list[Path], grounding: bool) -> dict[str, dict]:
    r = subprocess.run(
        [sys.executable, "-m", "device", *caption_args(bundle, grounding=grounding), *map(str, photos)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise PiCheckFailed(f"x86 captions failed: {r.stderr[-2000:]}")
    return answers(r.stdout)


def compare(x86: dict[str, dict], arm: dict[str, dict], refs: dict[str, list[str]]) -> dict:
    """Both sides scored against the references, and how often they say the same token ids."""
    from evaluation.caption_metrics import caption_metrics

    keys = sorted(refs)
    xm = caption_metrics({k: x86[k]["caption"] for k in keys}, {k: refs[k] for k in keys})
    am = caption_metrics({k: arm[k]["caption"] for k in keys}, {k: refs[k] for k in keys})
    same = [k for k in keys if x86[k]["tokens"] == arm[k]["tokens"]]
    differ = [(k, x86[k]["caption"], arm[k]["caption"]) for k in keys if k not in same]
    return {
        "images": len(keys),
        "x86": xm,
        "arm64": am,
        "identical": len(same) / len(keys),
        "differ": differ,
        "bleu4_points": (am["bleu4"] - xm["bleu4"]) * 100,
        "cider_delta": am["cider"] - xm["cider"],
    }


def _report(name: str, c: dict) -> None:
    print(
        f"  {name}: {c['images']} photos, identical token ids {c['identical']:.1%}; "
        f"BLEU-4 x86 {c['x86']['bleu4']:.4f} arm64 {c['arm64']['bleu4']:.4f} ({c['bleu4_points']:+.2f} points), "
        f"CIDEr x86 {c['x86']['cider']:.4f} arm64 {c['arm64']['cider']:.4f} ({c['cider_delta']:+.4f})"
    )
    for k, a, b in c["differ"][:5]:
        print(f"    {k}: x86 {a!r} / arm64 {b!r}")


def exec_start(root: Path) -> tuple[list[str], dict[str, str]]:
    """The installed unit's ExecStart argv and its User/WorkingDirectory."""
    unit = (root / "etc/systemd/system/seesay.service").read_text()
    keys = dict(re.findall(r"^(ExecStart|User|WorkingDirectory)=(.*)$", unit, re.M))
    return shlex.split(keys["ExecStart"]), keys


def wav_seconds(path: Path) -> float:
    """0 while the file is still being written (its header not yet there)."""
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / w.getframerate()
    except (EOFError, wave.Error):
        return 0.0


def daemon_presses(root: Path, photos: list[Path], keys: tuple[str, ...] = ("", "", "")) -> list[dict]:
    """The daemon as the unit starts it, with a test config: file camera (the photos, in turn),
    keyboard button (a line a press: "" a short press, "d" a double press), WAV speech. Checks one
    spoken WAV per answer and a clean exit; returns its answer records (`device run --answers-json`)."""
    presses = len(keys)
    argv, unit = exec_start(root)
    work = root / "var/lib/seesay/pi-check"
    shutil.rmtree(work, ignore_errors=True)
    (work / "photos").mkdir(parents=True)
    for p in photos[:presses]:
        shutil.copyfile(p, work / "photos" / p.name)
    inside = "/var/lib/seesay/pi-check"
    (work / "seesay.toml").write_text(
        f'[model]\nbundle = "/var/lib/seesay/bundle"\n[camera]\nsource = "files"\n'
        f'path = "{inside}/photos"\n[button]\nkind = "keyboard"\n'
        f'[speech]\noutput = "wav"\nwav_dir = "{inside}/wav"\nearcons = false\n'
        '[reading]\nsay_text = false\n'
    )  # one WAV per answer: counted below
    i = argv.index("--config")
    argv[i + 1] = f"{inside}/seesay.toml"  # the only changes to the unit's command line: this config,
    argv.append("--answers-json")  # and each answer as a JSON line on stdout
    user = unit.get("User", "seesay")
    # what the unit's StateDirectory=seesay does at every start: /var/lib/seesay belongs to its user
    r = run_in(root, f"chown -R {user}:{user} /var/lib/seesay")
    _expect(r.returncode == 0, f"/var/lib/seesay handed to {user}, as StateDirectory= does", r)
    cmd = [
        "chroot",
        f"--userspec={user}:{user}",
        str(root),
        "/bin/sh",
        "-c",
        f"cd {shlex.quote(unit['WorkingDirectory'])} && exec {shlex.join(argv)}",
    ]
    print(f"  ExecStart (config swapped): {shlex.join(argv)}")
    p = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"},
    )
    wavs = work / "wav"

    def wait_for(n: int, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and p.poll() is None:
            done = sorted(wavs.glob("*.wav")) if wavs.exists() else []
            if len(done) >= n and wav_seconds(done[n - 1]) > 0:  # written and closed
                time.sleep(1.0)  # the header is final once the file is closed
                return
            time.sleep(0.5)
        p.kill()
        out, err = p.communicate()
        raise PiCheckFailed(f"pi-check: the daemon did not speak utterance {n} within {timeout:.0f} s:\n{err[-3000:]}")

    wait_for(1, 600)  # "Ready." (first start under qemu: imports take a while)
    for k, key in enumerate(keys):
        p.stdin.write(key + "\n")
        p.stdin.flush()
        wait_for(2 + k, 300)
    out, err = p.communicate(timeout=120)  # closes stdin: end of input = quit
    _expect(
        p.returncode == 0,
        f"the daemon left with exit code 0 at the end of its input (got {p.returncode})",
        subprocess.CompletedProcess(cmd, p.returncode, out, err),
    )
    files = sorted(wavs.glob("*.wav"))
    _expect(len(files) == presses + 1, f"{len(files)} WAVs: 'Ready.' and one per press")
    for f in files:
        with wave.open(str(f)) as w:
            ok = w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getnframes() > w.getframerate() * 0.3
        _expect(ok, f"{f.name}: mono 16-bit speech, {wav_seconds(f):.1f} s")
    shutil.rmtree(work, ignore_errors=True)
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == "answer"]


def _reads(stdout: str) -> dict[str, str]:
    """`device read` output (`PATH: what is said`, a line a photo) -> photo name -> the text read
    ("" where it said why there is none)."""
    from device.reading import SAY_READ

    out = {}
    for line in stdout.splitlines():
        path, _, said = line.partition(": ")
        out[Path(path).name] = "" if said in SAY_READ.values() else said
    return out


def reading_in_root(root: Path, backgrounds: Path, n: int = TEXT_SCENES) -> dict:
    """install.sh --ocr (twice), doctor's reading line, and `device read` on n seeded text scenes in
    the root and here: word accuracy of each by difficulty, and how many read the same."""
    from evaluation.ocr_eval import word_accuracy
    from evaluation.text_scenes import make_text_scenes

    r = run_in(root, f"cd {SRC_INSIDE} && ./install.sh --ocr")
    print("  " + "\n  ".join(r.stdout.strip().splitlines()[-4:]))
    _expect(
        r.returncode == 0, "install.sh --ocr exit code 0 (tesseract-ocr-eng, python3-tesserocr, the text detector)", r
    )
    r = run_in(root, f"cd {SRC_INSIDE} && ./install.sh --ocr")
    _expect(r.returncode == 0 and "nothing to do" in r.stdout, "second install.sh --ocr: nothing to do", r)
    r = run_device(root, "doctor")
    line = next((l for l in r.stdout.splitlines() if "reading text" in l), "")
    _expect(line.startswith("[ OK ] reading text: ppocr-tesseract"), f"doctor: {line.strip()}", r)
    work = root / "tmp" / "pi-check-text"
    shutil.rmtree(work, ignore_errors=True)
    truth = make_text_scenes(work, backgrounds, n, seed=0)
    files = [work / k for k in truth]
    r = run_device(root, "read " + " ".join(f"/tmp/pi-check-text/{k}" for k in truth))
    _expect(r.returncode == 0 and not r.stderr.strip(), f"read in the root: {n} scenes, nothing on stderr", r)
    arm = _reads(r.stdout)
    sign = next(k for k, t in truth.items() if t["kind"] == "sign" and t["difficulty"] == "clean")
    said = daemon_presses(root, [work / sign], ("d",))
    _expect(
        len(said) == 1 and said[0]["asked"] == "double" and said[0]["kind"] == "text",
        f"the daemon's double press read {said} (sign: {truth[sign]['lines']})",
    )
    heard = word_accuracy(truth[sign]["lines"], said[0]["text"])
    _expect(heard >= 0.8, f"the double press read {heard:.0%} of the sign's words")
    x = subprocess.run(
        [sys.executable, "-m", "device", "read", *map(str, files)], cwd=REPO, capture_output=True, text=True
    )
    if x.returncode != 0:
        raise PiCheckFailed(f"x86 reading failed: {x.stderr[-2000:]}")
    x86 = _reads(x.stdout)
    shutil.rmtree(work, ignore_errors=True)
    out = {"scenes": n, "same": sum(arm[k] == x86[k] for k in truth) / n}
    for half in ("clean", "hard"):
        ks = [k for k, t in truth.items() if t["difficulty"] == half]
        for name, got in (("x86", x86), ("arm64", arm)):
            out[f"{half}_{name}"] = 100 * sum(word_accuracy(truth[k]["lines"], got[k]) for k in ks) / len(ks)
    print(
        f"  {n} text scenes: words read clean x86 {out['clean_x86']:.1f}% arm64 {out['clean_arm64']:.1f}%, "
        f"hard x86 {out['hard_x86']:.1f}% arm64 {out['hard_arm64']:.1f}%; the same text {out['same']:.0%}"
    )
    for k in [k for k in truth if arm[k] != x86[k]][:3]:
        print(f"    {k}: x86 {x86[k]!r} / arm64 {arm[k]!r}")
    for half in ("clean", "hard"):
        d = out[f"{half}_arm64"] - out[f"{half}_x86"]
        _expect(abs(d) <= WORD_POINTS, f"{half} half: arm64 within {WORD_POINTS:.0f} points of x86 ({d:+.1f})")
    return out


def pi_check(data: Path, backgrounds: Path, n_photos: int = 200) -> int:
    """data: captioned photos with splits/dev.txt; backgrounds: photos to render text scenes over.
    The root is kept in build/pi-root (seesay installed) for a look inside after a failure."""
    t0 = time.monotonic()
    bundle = REPO / "bundles" / "flickr8k"
    _step("arm64 root (debootstrap + qemu-user-static)")
    arm64.ensure_binfmt()
    root = arm64.fresh_root()
    with arm64.mounted(root):
        r = run_in(root, "uname -m; . /etc/os-release; echo $PRETTY_NAME")
        _expect(
            r.returncode == 0 and r.stdout.startswith("aarch64"),
            f"the root runs arm64: {' / '.join(r.stdout.split(chr(10))[:3])}",
            r,
        )
        copy_checkout(root)

        _step("install.sh, as on a Pi (in a chroot: no running systemd)")
        r = run_in(root, f"cd {SRC_INSIDE} && ./install.sh")
        print("  " + "\n  ".join(r.stdout.strip().splitlines()[-6:]))
        _expect(r.returncode == 0, "install.sh exit code 0", r)
        _expect(
            "starts at the next boot" in r.stdout,
            "install.sh saw no running systemd and said the unit starts at boot",
            r,
        )
        _expect(
            (root / "etc/systemd/system/multi-user.target.wants/seesay.service").is_symlink(), "seesay.service enabled"
        )
        r = run_in(root, f"cd {SRC_INSIDE} && ./install.sh")
        _expect(r.returncode == 0 and "nothing to do" in r.stdout, "second install.sh: nothing to do", r)
        r = run_in(
            root,
            f"{INSTALLED_PYTHON} -c 'import numpy, PIL, ai_edge_litert; print(numpy.__version__, PIL.__version__, "
            "numpy.__file__)'",
        )
        _expect(r.returncode == 0, f"installed runtime: numpy, Pillow: {r.stdout.strip()}", r)

        _step("installed commands, run from /: the installed package, not a checkout")
        r = run_in(root, f"cd / && {INSTALLED_PYTHON} -c 'import device; print(device.__file__)' && command -v seesay")
        _expect(
            r.returncode == 0 and r.stdout.startswith("/opt/seesay/venv/lib/") and "/usr/local/bin/seesay" in r.stdout,
            f"device imports from {r.stdout.split()[0] if r.stdout.split() else '?'}; seesay on PATH",
            r,
        )
        for cmd in ("seesay doctor", f"{INSTALLED_PYTHON} -m device doctor"):
            r = run_in(root, f"cd / && {cmd}")
            _expect("[ OK ] bundle" in r.stdout and "Traceback" not in r.stdout + r.stderr, f"`{cmd}` from / runs", r)
        r = run_device(root, "verify /var/lib/seesay/bundle")
        _expect(r.returncode == 0 and "OK" in r.stdout, f"verify: {r.stdout.strip()}", r)
        r = run_device(root, "doctor")
        print("  " + "\n  ".join(r.stdout.strip().splitlines()))
        fails = {l.split("]")[1].split(":")[0].strip() for l in r.stdout.splitlines() if l.startswith("[FAIL]")}
        _expect(
            r.returncode == 1 and fails == {"camera", "audio output", "button"},
            "doctor: exit 1; only camera, audio output and button fail (an emulated root has none of them)",
            r,
        )
        _expect("Traceback" not in r.stdout + r.stderr and not r.stderr.strip(), "doctor printed nothing on stderr", r)
        samples = sorted((REPO / "samples").glob("*.jpg"))
        r = run_device(root, f"caption {SRC_INSIDE}/samples/*.jpg")
        print("  " + "\n  ".join(re.sub(r"\s+\(\d+ ms\)$", "", l) for l in r.stdout.strip().splitlines()))
        _expect(
            r.returncode == 0 and len(r.stdout.strip().splitlines()) == len(samples), "caption on the sample photos", r
        )

        _step(f"captions of {n_photos} dev photos: arm64 root vs this machine, same bundle")
        if not (data / "splits" / "dev.txt").is_file():
            raise PiCheckFailed(
                f"pi-check: no dev split at {data} (pass --data, a folder with captions.csv, images/ and "
                "splits/dev.txt)"
            )
        photos, refs = dev_photos(data, n_photos)
        results = {}
        for grounding in (True, False):
            name = "as spoken (grounded)" if grounding else "kernels only (no grounding)"
            x = x86_captions(bundle, photos, grounding)
            a = arm64.captions_in_root(root, bundle, photos, grounding=grounding)
            results[name] = c = compare(x, a, refs)
            _report(name, c)
        for name, c in results.items():
            _expect(
                abs(c["bleu4_points"]) <= BLEU4_POINTS and abs(c["cider_delta"]) <= CIDER_DELTA,
                f"{name}: within {BLEU4_POINTS} BLEU-4 points and {CIDER_DELTA} CIDEr of x86",
            )

        _step("the daemon, started by the unit's ExecStart line")
        said = daemon_presses(root, photos)
        _expect(len(said) == 3 and all(a["asked"] == "short" for a in said), f"3 presses gave 3 answers: {said}")
        for a in said:
            print(f"  said: {a['text']}")

        _step(
            f"reading text: install.sh --ocr, then `device read` on {TEXT_SCENES} text scenes, arm64 root vs this "
            "machine"
        )
        reading = reading_in_root(root, backgrounds)
    out = REPO / "build" / "pi-check.json"
    out.write_text(json.dumps({"photos": n_photos, **results, "reading": reading}, indent=2))
    print(f"\npi-check passed in {(time.monotonic() - t0) / 60:.1f} min (wall clock on this machine; results in {out})")
    return 0
