"""The Pi's own software on this machine: a Debian Bookworm arm64 root made by debootstrap and run
under qemu-user-static. `./run.sh pi-check` installs seesay into it and captions there, so a bundle
is judged on the int8 kernels an aarch64 device runs.
Needs root (debootstrap, chroot, mounts). Timings under emulation mean nothing: none are reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from convert.conversion_errors import ConvertError

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
BASE = BUILD / "pi-base"  # pristine debootstrap, made once
ROOT = BUILD / "pi-root"  # a fresh copy of it per pi-check, so install.sh meets a new system each time
APT_CACHE = BUILD / "pi-apt-cache"  # .debs kept between runs (bind-mounted over the root's)
PIP_CACHE = BUILD / "pi-pip-cache"
MIRROR = "http://deb.debian.org/debian"
INSTALLED_PYTHON = "/opt/seesay/venv/bin/python"
INSTALLED_APP = "/opt/seesay/app"
BINFMT = Path("/proc/sys/fs/binfmt_misc")


class EmulationError(ConvertError):
    """The arm64 root cannot be made or run here."""


def _sh(argv: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, **kw)
    except FileNotFoundError as e:
        raise EmulationError(
            f"{what}: {argv[0]} is not installed (sudo apt install qemu-user-static debootstrap)"
        ) from e
    if r.returncode != 0:
        raise EmulationError(f"{what} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-800:]}")
    return r


def ensure_binfmt() -> None:
    """Register qemu's aarch64 handler with the kernel when it is missing (it is what lets an arm64
    binary run here), or say why it cannot be."""
    if not (BINFMT / "status").exists():
        try:
            _sh(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], "mounting binfmt_misc")
        except EmulationError as e:
            raise EmulationError(
                f"{e}. This machine does not let binfmt_misc be mounted (a container without "
                "privileges?): arm64 programs cannot run here"
            ) from None
    if not (BINFMT / "qemu-aarch64").exists():
        _sh(["update-binfmts", "--enable", "qemu-aarch64"], "registering qemu-aarch64 (apt install qemu-user-static)")
    if "enabled" not in (BINFMT / "qemu-aarch64").read_text():
        raise EmulationError(
            "the qemu-aarch64 binfmt handler is registered but disabled: update-binfmts --enable qemu-aarch64"
        )


def ensure_base(log=print) -> Path:
    """The pristine Bookworm arm64 root, debootstrapped once (about 10 minutes)."""
    done = BASE / ".seesay-debootstrap-complete"
    if done.exists():
        return BASE
    if shutil.which("debootstrap") is None:
        raise EmulationError("debootstrap is not installed: sudo apt install debootstrap qemu-user-static")
    shutil.rmtree(BASE, ignore_errors=True)
    BASE.parent.mkdir(parents=True, exist_ok=True)
    log(f"pi-check: debootstrap Debian Bookworm arm64 into {BASE} (once; about 10 minutes)")
    _sh(["debootstrap", "--arch=arm64", "--include=ca-certificates", "bookworm", str(BASE), MIRROR], "debootstrap")
    done.touch()
    return BASE


def fresh_root(log=print) -> Path:
    """A new copy of the pristine root: install.sh always meets a system it has never seen."""
    base = ensure_base(log)
    if ROOT.exists():
        unmount_all(ROOT)
        shutil.rmtree(ROOT)
    _sh(["cp", "-a", str(base), str(ROOT)], "copying the base root")
    return ROOT


def _mounts(root: Path) -> list[tuple[list[str], Path]]:
    # no /sys: with both this machine's /proc and /sys in view, TFLite's CPU probe (cpuinfo) reads x86
    # CPU descriptions as arm64 ones and the interpreter segfaults at start (either one alone is fine)
    return [
        (["-t", "proc", "proc"], root / "proc"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", "/dev/pts"], root / "dev/pts"),
        (["--bind", str(APT_CACHE)], root / "var/cache/apt/archives"),
        (["--bind", str(PIP_CACHE)], root / "root/.cache/pip"),
    ]


def unmount_all(root: Path) -> None:
    for _, target in reversed(_mounts(root)):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@contextmanager
def mounted(root: Path):
    """/proc, /dev, the package caches and the host's DNS and CA bundle inside the root
    (pip and apt reach their registries through them); unmounted on the way out."""
    ensure_binfmt()
    APT_CACHE.mkdir(parents=True, exist_ok=True)
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    for f in ("etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt"):
        if Path("/", f).is_file():
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path("/", f), root / f)
    mine = []  # only what this call mounted is unmounted: calls may nest
    try:
        for args, target in _mounts(root):
            target.mkdir(parents=True, exist_ok=True)
            if subprocess.run(["mountpoint", "-q", str(target)]).returncode != 0:
                _sh(["mount", *args, str(target)], f"mounting {target}")
                mine.append(target)
        yield root
    finally:
        for target in reversed(mine):
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def run_in(root: Path, script: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    """bash -c SCRIPT inside the root, as root, output captured."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/root",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    return subprocess.run(
        ["chroot", str(root), "/bin/bash", "-c", script], capture_output=True, text=True, timeout=timeout, env=env
    )


def run_device(root: Path, args: str) -> subprocess.CompletedProcess:
    """`seesay ARGS` as installed in the root (the command on PATH), run from / as a user would."""
    return run_in(root, f"cd / && seesay {args}")


def installed(root: Path) -> bool:
    return (root / INSTALLED_PYTHON.lstrip("/")).exists() and (root / INSTALLED_APP.lstrip("/")).is_dir()


def caption_args(bundle: str | Path, beam: int | None = None, grounding: bool = True) -> list[str]:
    """`device caption` options for one JSON answer per photo: the same on both machines."""
    return [
        "caption",
        "--json",
        "--caption-anyway",
        "--bundle",
        str(bundle),
        *(["--beam", str(beam)] if beam else []),
        *([] if grounding else ["--no-grounding"]),
    ]


def answers(stdout: str) -> dict[str, dict]:
    """`device caption --json` output -> photo name -> its answer (tokens, caption, answer)."""
    return {Path(j["image"]).name: j for j in map(json.loads, stdout.splitlines())}


def captions_in_root(
    root: Path, bundle: str | Path, photos: list[Path], beam: int | None = None, grounding: bool = True, batch: int = 50
) -> dict[str, dict]:
    """photo name -> the installed device CLI's JSON answer, captioned inside the arm64 root with
    its own Python, numpy and aarch64 TFLite runtime. The bundle and photos are copied in for the
    call and removed after it."""
    if not installed(root):
        raise EmulationError(f"{root} has no installed seesay: run ./run.sh pi-check first")
    out: dict[str, dict] = {}
    work = Path(tempfile.mkdtemp(prefix="seesay-check-", dir=root / "tmp"))
    inside = "/" + str(work.relative_to(root))
    try:
        shutil.copytree(bundle, work / "bundle")
        (work / "photos").mkdir()
        for p in photos:
            shutil.copyfile(p, work / "photos" / p.name)
        opts = " ".join(caption_args(f"{inside}/bundle", beam, grounding))
        names = [p.name for p in photos]
        with mounted(root):
            for i in range(0, len(names), batch):  # one interpreter start per batch: they take seconds under qemu
                r = run_device(root, f"{opts} " + " ".join(f"{inside}/photos/{n}" for n in names[i : i + batch]))
                if r.returncode != 0:
                    raise EmulationError(
                        f"captioning in the arm64 root failed (exit {r.returncode}): {r.stderr.strip()[-800:]}"
                    )
                out.update(answers(r.stdout))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
