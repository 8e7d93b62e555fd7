"""Speech: espeak-ng through its library (ctypes, synchronous mode with a synth callback: audio
streams to the sink while it is being made) or its command; one speech thread plays utterances and
earcons in order, and stop() interrupts the current one at once."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import queue
import subprocess
import threading
import time
from typing import Callable

import numpy as np

from .earcons import EARCONS, RATE
from .errors import SpeechError

log = logging.getLogger("seesay.speech")

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _VOLUME = 1, 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakLibrary:
    """libespeak-ng.so.1 via ctypes. Not thread-safe: used only from the speech thread."""

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165, volume: int = 100):
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as e:
            raise SpeechError(
                f"espeak-ng library not found ({e}): sudo apt install espeak-ng, " "or set speech.engine = \"command\""
            ) from e
        L = self.lib
        L.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        L.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        L.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
        L.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        L.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.rate = L.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 100, None, _INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise SpeechError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._on_pcm: Callable[[np.ndarray], bool] | None = None
        self._cb = _SYNTH_CB(self._callback)  # keep a reference: ctypes must not free it
        L.espeak_SetSynthCallback(self._cb)
        if L.espeak_SetVoiceByName(voice.encode()) != 0:
            raise SpeechError(f"espeak-ng has no voice {voice!r}: see `espeak-ng --voices`")
        L.espeak_SetParameter(_RATE, int(rate_wpm), 0)
        L.espeak_SetParameter(_VOLUME, int(volume), 0)
        self._error: BaseException | None = None

    def _callback(self, wav, n, events) -> int:
        if not wav or n <= 0:
            return 0
        try:
            keep_going = self._on_pcm(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        except BaseException as e:  # never let an exception cross the C boundary
            self._error = e
            return 1
        return 0 if keep_going else 1  # 1 aborts synthesis

    def synth(self, text: str, on_pcm: Callable[[np.ndarray], bool]) -> None:
        """Synthesise text, handing 16-bit PCM chunks to on_pcm; on_pcm returning False stops it."""
        data = text.encode("utf-8") + b"\0"
        self._on_pcm, self._error = on_pcm, None
        self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if self._error is not None:
            raise self._error


class EspeakCommand:
    """`espeak-ng --stdout` as a subprocess, its WAV streamed as it arrives."""

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165, volume: int = 100, command: str = "espeak-ng"):
        self.args = [command, "--stdout", "-v", voice, "-s", str(rate_wpm), "-a", str(volume)]
        self.rate = RATE

    def synth(self, text: str, on_pcm: Callable[[np.ndarray], bool]) -> None:
        """As EspeakLibrary.synth, through an espeak-ng process per sentence."""
        try:
            p = subprocess.Popen(self.args + [text], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise SpeechError(f"{self.args[0]!r} not found: sudo apt install espeak-ng") from None
        header = p.stdout.read(44)  # canonical WAV header; espeak-ng writes 22050 Hz mono s16
        if len(header) < 44:
            p.wait()
            raise SpeechError(f"espeak-ng produced no audio: {p.stderr.read().decode(errors='replace').strip()}")
        self.rate = int.from_bytes(header[24:28], "little")
        while True:
            chunk = p.stdout.read(4096)
            if not chunk:
                break
            if not on_pcm(np.frombuffer(chunk[: len(chunk) // 2 * 2], np.int16)):
                p.kill()
                break
        p.wait()


def make_engine(cfg):
    """The speech engine for [speech] settings: libespeak-ng in-process, or the espeak-ng command."""
    if cfg.engine == "library":
        return EspeakLibrary(cfg.voice, cfg.rate_wpm, cfg.volume)
    if cfg.engine == "command":
        return EspeakCommand(cfg.voice, cfg.rate_wpm, cfg.volume)
    raise SpeechError(f"speech.engine must be library or command, not {cfg.engine!r}")


class Speaker:
    """Plays utterances and earcons in order on its own thread. say()/earcon() return at once;
    stop() cuts the current sound and drops what is queued. Errors go to on_error."""

    def __init__(self, engine_factory: Callable[[], object], sink, on_error: Callable[[Exception], None] | None = None):
        self._factory, self.sink = engine_factory, sink
        self._engine = None
        self.on_error = on_error or (lambda e: log.error("speech: %s", e))
        self._jobs: queue.Queue = queue.Queue()
        self._abort = threading.Event()
        # busy = jobs queued or playing; counted under a lock so that a job queued as the last one
        # ends, or dropped by stop() before the thread took it, never leaves the count wrong
        self._pending, self._count_lock = 0, threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self.spoken: list[str] = []  # texts started, for logs and tests
        self.first_audio: list[tuple[str, float]] = []  # (text or earcon, monotonic time of its first samples)
        self._current = ""
        self._fresh = False
        self._thread = threading.Thread(target=self._run, name="speech", daemon=True)
        self._thread.start()

    def say(self, text: str) -> None:
        """Queue a sentence; it is said after what is queued before it."""
        self._queue(("say", text))

    def earcon(self, name: str) -> None:
        """Queue a short tone by name ("press", "error")."""
        self._queue(("pcm", EARCONS[name]()))

    def _queue(self, job) -> None:
        with self._count_lock:
            self._pending += 1
            self._idle.clear()
        self._jobs.put(job)

    def _done(self, n: int = 1) -> None:
        with self._count_lock:
            self._pending -= n
            if self._pending <= 0:
                self._pending = 0
                self._idle.set()

    @property
    def busy(self) -> bool:
        """True while anything is queued or playing."""
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or playing (timeout in seconds; None: for ever); -> whether it is."""
        return self._idle.wait(timeout)

    def stop(self) -> None:
        """Interrupt the current sound and drop queued ones."""
        dropped, closing = 0, False
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            dropped, closing = dropped + (job is not None), closing or job is None
        if closing:
            self._jobs.put(None)  # close() asked the thread to end: that is not dropped
        if dropped:
            self._done(dropped)
        self._abort.set()
        try:
            self.sink.abort()
        except Exception as e:  # the sound device failing as it is cut: reported; the speech did stop
            self.on_error(e)

    def _engine_ready(self):
        if self._engine is None:
            self._engine = self._factory()  # made on the speech thread: the library wants one thread
        return self._engine

    def _run(self) -> None:
        try:
            self._engine_ready()  # initialise now, so the first caption's audio is not delayed
        except Exception as e:
            self.on_error(e)
        while True:
            job = self._jobs.get()
            if job is None:
                break
            self._abort.clear()
            kind, payload = job
            self._current, self._fresh = (payload if kind == "say" else "<earcon>"), True
            try:
                if kind == "say":
                    try:
                        eng = self._engine_ready()
                    except Exception as e:
                        self._error_tone()
                        raise e
                    self.spoken.append(payload)
                    self.sink.begin(eng.rate)
                    eng.synth(payload, self._feed)
                    self.sink.end()
                else:
                    self._play(payload)
            except Exception as e:  # a speaker failure is reported and the thread lives on
                try:
                    self.sink.abort()
                except Exception:
                    pass
                self.on_error(e)
            finally:
                self._done()

    def _error_tone(self) -> None:
        """Speech itself is broken (no espeak-ng, an unknown voice): the wearer still hears that the
        press failed. Best effort: when the sink fails too, the engine's error is the one reported."""
        self._current, self._fresh = "<earcon>", True
        try:
            self._play(EARCONS["error"]())
        except Exception:
            pass

    def _play(self, pcm: np.ndarray) -> None:
        self.sink.begin(RATE)
        for s in range(0, len(pcm), 2048):
            if not self._feed(pcm[s : s + 2048]):
                break
        self.sink.end()

    def _feed(self, pcm: np.ndarray) -> bool:
        if self._abort.is_set():
            return False
        if self._fresh:
            self.first_audio.append((self._current, time.monotonic()))
            self._fresh = False
        self.sink.write(pcm)
        return not self._abort.is_set()

    def close(self) -> None:
        """Stop speaking and end the speech thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._jobs.put(None)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
