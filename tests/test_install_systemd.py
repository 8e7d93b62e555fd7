"""install.sh into a staging root with recording stand-ins for apt, dpkg-query, systemctl and the
user tools; the hardened unit under systemd-analyze; then the installed daemon answers one press."""

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT
from .daemon_kit import PERMISSIVE, wav_said

STANDIN = """#!/bin/sh
echo "$(basename "$0") $*" >> "$SEESAY_TEST_LOG"
case "$(basename "$0")" in
  apt-get) [ "$1" = install ] && for p in "$@"; do case "$p" in -*|install) ;; *) echo "$p" >> "$SEESAY_TEST_DPKG";; esac; done ;;
  dpkg-query) pkg=$(eval echo \\${$#}); grep -qx "$pkg" "$SEESAY_TEST_DPKG" 2>/dev/null && printf 'install ok installed' || exit 1 ;;
  useradd) root=$2; echo "seesay:x:990:990::/var/lib/seesay:/usr/sbin/nologin" >> "$root/etc/passwd" ;;
  usermod) root=$2; g=$5; sed -i "s/^$g:\\(.*\\):$/$g:\\1:seesay/; t; s/^$g:\\(.*\\)$/$g:\\1,seesay/" "$root/etc/group" ;;
esac
exit 0
"""


@pytest.fixture
def stage(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("apt-get", "dpkg-query", "systemctl", "useradd", "usermod"):
        f = bin_dir / name
        f.write_text(STANDIN)
        f.chmod(0o755)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "etc" / "group").write_text("gpio:x:997:\nvideo:x:44:pi\naudio:x:29:\n")
    env = dict(
        os.environ,
        SEESAY_APT_GET=str(bin_dir / "apt-get"),
        SEESAY_DPKG_QUERY=str(bin_dir / "dpkg-query"),
        SEESAY_SYSTEMCTL=str(bin_dir / "systemctl"),
        SEESAY_USERADD=str(bin_dir / "useradd"),
        SEESAY_GROUPADD_MEMBER=str(bin_dir / "usermod"),
        SEESAY_PLATFORM="pi5",
        SEESAY_TEST_LOG=str(tmp_path / "calls.log"),
        SEESAY_TEST_DPKG=str(tmp_path / "dpkg.txt"),
    )
    make_stage_venv(root / "opt/seesay/venv")
    return root, env, tmp_path


def make_stage_venv(venv: Path) -> None:
    """The staging root's venv, as install.sh would make it, but seeing this test run's packages (a .pth
    file) instead of downloading them: install.sh still installs the seesay package into it with pip."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pth = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "test-run.pth"
    pth.write_text("\n".join(site.getsitepackages()) + "\n")


def _install(root, env, bundle=None, *extra):
    return subprocess.run(
        ["bash", str(ROOT / "install.sh"), "--root", str(root), *(["--bundle", str(bundle)] if bundle else []), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_install_twice_then_run_installed_daemon(stage, bundle, scenes):
    root, env, tmp = stage
    r = _install(root, env, bundle)
    assert r.returncode == 0, r.stderr + r.stdout
    calls = (tmp / "calls.log").read_text()
    assert "apt-get install" in calls and "python3-picamera2" in calls and "python3-lgpio" in calls
    assert "systemctl --root=" in calls and "enable seesay.service" in calls
    assert "seesay:" in (root / "etc/passwd").read_text()
    groups = (root / "etc/group").read_text()
    assert "gpio:x:997:seesay" in groups and "video:x:44:pi,seesay" in groups
    unit = (root / "etc/systemd/system/seesay.service").read_text()
    assert "ExecStart=/opt/seesay/venv/bin/seesay run --config /etc/seesay/seesay.toml" in unit
    assert "Documentation=file:///opt/seesay/app/README.md" in unit and (root / "opt/seesay/app/README.md").is_file()
    assert "WorkingDirectory=/var/lib/seesay" in unit  # not the app folder: the installed package runs
    assert oct((root / "etc/systemd/system/seesay.service").stat().st_mode & 0o777) == "0o644"
    assert (root / "opt/seesay/app/device/daemon.py").is_file()
    assert not (root / "opt/seesay/app/training").exists()  # device side only
    assert os.readlink(root / "usr/local/bin/seesay") == "/opt/seesay/venv/bin/seesay"
    assert "Check it with: seesay doctor" in r.stdout
    assert (root / "var/lib/seesay/bundle/manifest.json").is_file()
    conf = root / "etc/seesay/seesay.toml"
    assert 'source = "picamera2"' in conf.read_text()

    conf.write_text(conf.read_text() + "\n# the user's own edit\n")
    mine = conf.read_text()
    r2 = _install(root, env, bundle)
    assert r2.returncode == 0, r2.stderr
    assert "nothing to do" in r2.stdout
    assert conf.read_text() == mine  # never overwritten

    dry = subprocess.run(
        ["bash", str(ROOT / "install.sh"), "--root", str(root), "--uninstall", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0 and "would run: rm -rf" in dry.stdout and (root / "opt/seesay").exists()

    # the installed code, from any folder: the console command and `python -m device`, run from /
    venv_bin = root / "opt/seesay/venv/bin"
    for cmd in (
        [str(venv_bin / "seesay"), "verify", str(root / "var/lib/seesay/bundle")],
        [str(venv_bin / "python"), "-m", "device", "verify", str(root / "var/lib/seesay/bundle")],
    ):
        r = subprocess.run(cmd, cwd="/", capture_output=True, text=True)
        assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    where = subprocess.run(
        [str(venv_bin / "python"), "-c", "import device; print(device.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert where.startswith(str(root / "opt/seesay/venv/lib")), where  # the installed package, not a checkout

    # the installed daemon, from the staging root: file camera, WAV speech, one press on stdin
    wav = tmp / "wav"
    conf.write_text(
        f'[model]\nbundle = "{root}/var/lib/seesay/bundle"\n[camera]\nsource = "files"\n'
        f'path = "{scenes.parent / "images"}"\n[button]\nkind = "keyboard"\n'
        f'[speech]\noutput = "wav"\nwav_dir = "{wav}"\n[behaviour]\n'
        + "".join(f"{k} = {v}\n" for k, v in PERMISSIVE.items())
    )
    p = subprocess.Popen(
        [str(venv_bin / "seesay"), "run", "--config", str(conf), "--answers-json"],
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert json.loads(p.stdout.readline()) == {"event": "ready"}
    wav_said(wav)
    p.stdin.write("\n")
    p.stdin.flush()
    answer = json.loads(p.stdout.readline())
    p.stdin.write("q\n")
    p.stdin.close()
    assert p.wait(30) == 0, p.stderr.read()
    assert answer["event"] == "answer" and answer["asked"] == "short" and answer["kind"] == "caption", answer
    assert len(list(wav.glob("*.wav"))) == 3  # Ready., the earcon, the answer

    r3 = subprocess.run(
        ["bash", str(ROOT / "install.sh"), "--root", str(root), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert r3.returncode == 0 and not (root / "opt/seesay").exists() and conf.exists()
    assert not (root / "usr/local/bin/seesay").is_symlink()


def test_a_new_bundle_or_new_code_restarts_the_service_and_nothing_new_does_not(stage, bundle, tmp_path):
    root, env, tmp = stage
    env = dict(env, SEESAY_LIVE_SYSTEMD="1")  # the stand-in systemctl plays a running system
    log = tmp / "calls.log"
    assert _install(root, env, bundle).returncode == 0
    assert "systemctl restart seesay.service" in log.read_text()
    log.write_text("")
    r = _install(root, env, bundle)
    assert r.returncode == 0 and "nothing to do" in r.stdout and "restart" not in log.read_text()
    newer = tmp_path / "newer"  # another valid bundle: same model files, another manifest
    shutil.copytree(bundle, newer)
    m = json.loads((newer / "manifest.json").read_text())
    m["converter"]["created"] = "2030-01-01T00:00:00Z"
    (newer / "manifest.json").write_text(json.dumps(m))
    r = _install(root, env, newer)
    assert r.returncode == 0, r.stderr
    assert "systemctl restart seesay.service" in log.read_text()
    assert json.loads((root / "var/lib/seesay/bundle/manifest.json").read_text())["converter"]["created"].startswith(
        "2030"
    )
    log.write_text("")
    (root / "opt/seesay/app/device/daemon.py").write_text(
        "# an older version\n"
    )  # code that differs from this checkout
    assert _install(root, env, newer).returncode == 0
    assert "systemctl restart seesay.service" in log.read_text()


def test_install_without_bundle_installs_the_shipped_one(stage):
    root, env, tmp = stage
    shipped = ROOT / "bundles" / "flickr8k"
    if not (shipped / "manifest.json").is_file():
        pytest.fail("the shipped bundle bundles/flickr8k is missing from the repository")
    r = _install(root, env)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "installing the shipped one" in r.stdout
    assert (root / "var/lib/seesay/bundle/manifest.json").read_bytes() == (shipped / "manifest.json").read_bytes()


def test_install_refuses_bad_bundle_unsupported_os_and_non_root(stage, bundle, tmp_path):
    root, env, tmp = stage
    bad = tmp / "bad"
    shutil.copytree(bundle, bad)
    (bad / "vocab.json").write_text('{"words": []}')
    r = _install(root, env, bad)
    assert r.returncode != 0 and "fails verification" in r.stderr + r.stdout
    assert not (root / "var/lib/seesay/bundle").exists()
    if os.getuid() != 0:
        r = subprocess.run(["bash", str(ROOT / "install.sh")], capture_output=True, text=True)
        assert "must run as root" in r.stderr
    osr = tmp / "os-release"
    env2 = dict(env)
    env2.pop("SEESAY_PLATFORM")
    r = subprocess.run(
        [
            "bash",
            "-c",
            f"sed 's#/etc/os-release#{osr}#' {ROOT / 'install.sh'} > {tmp / 'i.sh'}; "
            f"echo 'ID=arch' > {osr}; bash {tmp / 'i.sh'} --root {root} --dry-run",
        ],
        env=env2,
        capture_output=True,
        text=True,
    )
    if not Path("/proc/device-tree/model").exists():
        assert r.returncode != 0 and "unsupported operating system" in r.stderr


def test_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck not installed (./run.sh setup installs it)")
    r = subprocess.run(["shellcheck", "install.sh", "run.sh", ".ci/run"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_unit_verifies_and_is_hardened(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (./run.sh setup installs systemd)")
    unit = tmp_path / "seesay.service"
    # verify needs ExecStart to exist: point it at this interpreter, as install.sh does with its venv
    unit.write_text(
        (ROOT / "systemd/seesay.service").read_text().replace("/opt/seesay/venv/bin/seesay", shutil.which("true"))
    )
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [l for l in (r.stdout + r.stderr).splitlines() if "seesay.service" in l]
    assert r.returncode == 0 and not problems, problems
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True)
    line = [l for l in r.stdout.splitlines() if "Overall exposure level" in l][0]
    print(line)
    exposure = float(line.split("seesay.service:")[1].split()[0])
    assert exposure <= 2.5


def _same_tree(a: Path, b: Path) -> bool:
    files = lambda d: sorted(p.relative_to(d) for p in d.rglob("*") if p.is_file())
    return files(a) == files(b) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files(a))


@pytest.mark.slow
def test_a_power_cut_at_any_step_of_an_update_boots_a_whole_bundle_and_the_next_run_finishes(stage, bundle, tmp_path):
    """kill -9 install.sh --bundle NEW (with new code too) just before each of its actions in turn, and
    once more with the copy of the new bundle cut short; after each: the device loads a verified bundle
    that is exactly the old or the new one, and install.sh run again ends with the new one and no leftovers."""
    from device.bundle import load_bundle

    root, env, tmp = stage
    old, new = bundle, ROOT / "bundles" / "flickr8k"
    assert _install(root, env, old).returncode == 0
    (root / "opt/seesay/app/device/daemon.py").write_text("# an older version\n")  # the update brings new code too
    installed = tmp / "installed"
    shutil.copytree(root, installed, symlinks=True)
    state = root / "var/lib/seesay"
    points, booted = 0, set()
    for k in range(1, 200):
        shutil.rmtree(root)
        shutil.copytree(installed, root, symlinks=True)
        r = _install(root, dict(env, SEESAY_KILL_AT_ACTION=str(k)), new)
        if r.returncode == 0:  # k is past the last action: every step has been cut
            break
        assert r.returncode == -9, r.stderr
        points += 1
        if (state / "bundle.new").is_dir() and not (state / "bundle.old").exists() and k % 2:
            for f in sorted((state / "bundle.new").iterdir())[::2]:  # and a copy cut short, at every other point
                f.unlink()
        b = load_bundle(state / "bundle")  # what the service loads at boot: verified, sha256 of every file
        which = "old" if _same_tree(b.path, old) else "new" if _same_tree(b.path, new) else None
        assert which, f"cut before action {k}: the device would load {b.path}, which is neither bundle whole"
        booted.add(which)
        r = _install(root, env, new)
        assert r.returncode == 0, f"cut before action {k}, the next run failed: {r.stderr}"
        assert _same_tree(state / "bundle", new) and sorted(p.name for p in state.iterdir()) == ["bundle"]
    assert points >= 6 and booted == {"old", "new"}, (points, booted)  # code, copy, sync, 2 renames, clean-up
    r = _install(root, env, new)
    assert r.returncode == 0 and "nothing to do" in r.stdout
