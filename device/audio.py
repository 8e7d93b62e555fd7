"""Audio sinks for 16-bit mono PCM: a player process (aplay by default) streaming to the sound
device, or WAV files for headless use and tests. Interruptible: abort() stops at once."""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np

from .errors import SpeechError, message_line


class PlayerSink:
    """Streams PCM into a player command's stdin, one process per utterance (killed on abort).
    {rate} in the command is replaced by the sample rate."""

    def __init__(self, command: list[str] | None = None):
        self.command = command or ["aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", "{rate}", "-"]
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def begin(self, rate: int) -> None:
        """Start the player for one utterance of 16-bit mono PCM at rate Hz."""
        cmd = [c.replace("{rate}", str(rate)) for c in self.command]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise SpeechError(
                f"audio player {cmd[0]!r} not found: sudo apt install alsa-utils, or set speech.player"
            ) from None

    def write(self, pcm: np.ndarray) -> None:
        """Send PCM samples (int16) to the player; after an abort, nothing."""
        p = self._proc
        if p is None:
            return
        try:
            p.stdin.write(np.asarray(pcm, np.int16).tobytes())
        except (BrokenPipeError, ValueError, OSError):
            err = self._finish_error()
            raise SpeechError(
                f"audio output failed: {err or 'the player exited'}; check the speaker (aplay -l)"
            ) from None

    def _finish_error(self) -> str:
        p, self._proc = self._proc, None
        if p is None:
            return ""
        try:
            p.kill()
            _, err = p.communicate(timeout=2)
            return message_line((err or b"").decode(errors="replace"), last=True, limit=200)
        except Exception:
            return ""

    def end(self) -> None:
        """Close the player's input and wait for it to finish playing; a failing player is a SpeechError."""
        p, self._proc = self._proc, None
        if p is None:
            return
        try:
            p.stdin.close()
        except OSError:
            pass
        err = p.stderr.read().decode(errors="replace").strip() if p.stderr else ""
        if p.wait() not in (0, -9, -15):
            raise SpeechError(
                "audio output failed: "
                f"{message_line(err, last=True, limit=200) or f'the player exited with {p.returncode}'}; "
                "check the speaker (aplay -l)"
            )

    def abort(self) -> None:
        """Stop playing at once (the player is killed); safe from any thread, idempotent."""
        with self._lock:
            p = self._proc
            if p is not None:
                p.kill()


class WavSink:
    """Each utterance becomes out_dir/NNNN.wav, numbered on after the highest NNNN.wav already there
    (no file is ever overwritten). abort() may come from another thread than the writes (the daemon
    stopping speech), hence the lock.

    out_dir: the folder (made if missing); exclusive: hold a lock on the folder for this process's
    life, so that a second daemon writing there refuses to start (SpeechError)."""

    def __init__(self, out_dir: str | Path, exclusive: bool = False):
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SpeechError(
                f"speech.wav_dir {self.dir} cannot be made ({e.strerror or e}); give a folder "
                "the service user can write"
            ) from None
        self._flock = _lock_folder(self.dir) if exclusive else None
        self.files: list[Path] = []
        self._w: wave.Wave_write | None = None
        self._lock = threading.Lock()
        taken = [int(p.stem) for p in self.dir.glob("[0-9][0-9][0-9][0-9]*.wav") if p.stem.isdigit()]
        self._next = max(taken, default=-1) + 1

    def begin(self, rate: int) -> None:
        """Open the next numbered WAV file for one utterance at rate Hz (never an existing one)."""
        with self._lock:
            while (self.dir / f"{self._next:04d}.wav").exists():
                self._next += 1
            path = self.dir / f"{self._next:04d}.wav"
            self._next += 1
            self._w = wave.open(str(path), "wb")
            self._w.setnchannels(1)
            self._w.setsampwidth(2)
            self._w.setframerate(rate)
            self.files.append(path)

    def write(self, pcm: np.ndarray) -> None:
        """Append PCM samples (int16) to the open file."""
        with self._lock:
            if self._w is not None:
                self._w.writeframes(np.asarray(pcm, np.int16).tobytes())

    def end(self) -> None:
        """Close the utterance's file and record its path in files."""
        with self._lock:
            w, self._w = self._w, None
            if w is not None:
                w.close()

    abort = end


def _lock_folder(folder: Path):
    """An exclusive lock on folder/.seesay.lock held by this process (released when it exits)."""
    import fcntl

    f = open(folder / ".seesay.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SpeechError(
            f"{folder} is in use by another seesay (it holds {folder / '.seesay.lock'}): stop it "
            "first, or give this one another speech.wav_dir"
        ) from None
    return f


class PacedWavSink(WavSink):
    """A WavSink that takes samples at the pace of playback, as a sound card does, so that speech
    lasts as long as it is heard: for measuring and testing a press that stops it."""

    def begin(self, rate: int) -> None:
        """As WavSink.begin, remembering the rate to pace writes by."""
        self.rate = rate
        super().begin(rate)

    def write(self, pcm: np.ndarray) -> None:
        """As WavSink.write, then wait as long as the samples would play (unless aborted)."""
        super().write(pcm)
        due = time.monotonic() + len(pcm) / self.rate
        while self._w is not None and time.monotonic() < due:  # a sound card drops its buffer when cut
            time.sleep(0.002)
