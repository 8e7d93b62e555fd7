"""The daemon: one worker loop driven by a State enum. Button callbacks only enqueue; the loop
captures, captions and speaks, feeds the systemd watchdog, and answers every accepted press with
exactly one sentence, a failure included."""

from __future__ import annotations

import collections
import enum
import logging
import queue
import threading
import time
from dataclasses import dataclass

from .button import Press
from .errors import CameraError, ImageError, SeesayError, SpeechError
from .answer import compose
from .config import answer_settings
from .frame_check import ADVICE
from .preprocess import to_model_input
from .reading import SAY_READ, read_frame, short_text

log = logging.getLogger("seesay.daemon")


class State(enum.Enum):
    """What the worker loop is doing."""

    IDLE = "idle"
    CAPTURING = "capturing"
    THINKING = "thinking"
    SPEAKING = "speaking"


SAY = {
    "ready": "Ready.",
    **ADVICE,
    "camera": "I cannot see. The camera is not working.",
    "image": "I could not read the picture.",
    "model": "Sorry, something went wrong while describing.",
    "no_model": "The description model is not working.",
    "button": "The button is not working.",
    "nothing_yet": "I have not described anything yet.",
}


DESCRIPTIONS = ("caption", "objects", "not_sure")  # the kinds of answer that describe a usable frame


@dataclass
class Answer:
    """One answer to one accepted press: what was said and why (the daemon's interface to whoever
    watches it: tests, the bench, pi-check, `device run --answers-json`; log wording is free to change)."""

    press_t: float  # monotonic time of the press that asked, seconds
    text: str  # what was said
    # caption | objects | not_sure | repeat | text | no_text | small | no_reader | covered | dark | bright | glare
    # | blurred | camera | image | model | ...
    kind: str
    caption_ms: float = 0.0  # time spent captioning, milliseconds (0 when no caption was made)
    asked: str = ""  # the press answered: short | long | double

    def to_record(self) -> dict:
        """A JSON-ready record: {"event": "answer", "asked", "kind", "text", "caption_ms"}."""
        return {
            "event": "answer",
            "asked": self.asked,
            "kind": self.kind,
            "text": self.text,
            "caption_ms": round(self.caption_ms, 1),
        }


class Daemon:
    """The button daemon: presses are queued by the button's threads and answered, one sentence each, by
    one worker loop (run()).

    cfg: Config; camera: capture() -> RGB frame; speaker: device.speech.Speaker;
    notifier: systemd's (None: none)."""

    def __init__(self, cfg, camera, speaker, load_captioner, notifier=None, reader=None, on_answer=None):
        """load_captioner: () -> Captioner, called at start (and again after a failure).
        reader: a loaded device.ocr Reader for double presses, or None (no reading).
        on_answer: called with each Answer on the worker thread once it is being said, or None.
        Nothing is persisted: answers hold the text of letters and medicine labels."""
        self.cfg, self.camera, self.speaker, self.reader = cfg, camera, speaker, reader
        self.on_answer = on_answer
        self.settings = answer_settings(cfg.behaviour)  # the bundle's, once it is loaded
        self._load_captioner, self.captioner = load_captioner, None
        self.notifier = notifier
        self.events: queue.Queue = queue.Queue(maxsize=cfg.behaviour.busy_queue)
        self.state = State.IDLE
        self.stats = collections.Counter()
        self.answers: list[Answer] = []
        self.last_description: str | None = None
        self._asking = ""  # the press being answered
        self._stop = threading.Event()
        self.ready = threading.Event()

    # -- called from button threads: enqueue only ------------------------------------------------
    def press(self, kind: Press) -> None:
        """Queue a press (called from button threads); a burst beyond busy_queue is dropped and counted."""
        self.stats["presses"] += 1
        try:
            self.events.put_nowait((kind, time.monotonic()))
        except queue.Full:
            self.stats["dropped"] += 1  # a burst while busy: coalesced into what is already queued

    def request_stop(self) -> None:
        """Ask the loop to end after the current press; safe from signal handlers and other threads."""
        self._stop.set()
        try:
            self.events.put_nowait((Press.QUIT, time.monotonic()))
        except queue.Full:
            pass

    # -- the worker loop --------------------------------------------------------------------------
    def _ping(self) -> None:
        if self.notifier:
            self.notifier.watchdog()

    def _say(self, text: str, kind: str, press_t: float, caption_ms: float = 0.0) -> None:
        if kind not in (*DESCRIPTIONS, "repeat", "text"):
            log.warning("answered %s: %s", kind, text)
            if self.cfg.speech.earcons:
                self.speaker.earcon("error")
        self.speaker.say(text)
        self.state = State.SPEAKING
        # recorded last: whoever sees the answer (a test, the bench) also sees the speaker busy with it
        answer = Answer(press_t, text, kind, caption_ms, self._asking)
        self.answers.append(answer)
        self.stats["answers"] += 1
        if self.on_answer is not None:
            try:
                self.on_answer(answer)
            except Exception as e:  # a watcher's failure must not cost the user an answer
                log.error("answer callback failed: %s", e)

    def _load(self) -> bool:
        try:
            self.captioner = self._load_captioner()
            self.settings = answer_settings(self.cfg.behaviour, self.captioner.bundle.manifest)
            return True
        except Exception as e:  # a broken bundle must not kill the daemon: it is reported and spoken
            log.error("model could not be loaded: %s", e)
            self.captioner = None
            return False

    def start(self) -> None:
        """Load the model and say "Ready." (or that the model is not working); tell systemd it is ready."""
        ok = self._load()
        self.speaker.say(SAY["ready"] if ok else SAY["no_model"])
        if self.notifier:
            self.notifier.ready()
            self.notifier.status("ready" if ok else "model not loaded")
        self.ready.set()

    def run(self) -> int:
        """Blocks until request_stop() or a keyboard quit. Returns an exit code."""
        if not self.ready.is_set():
            self.start()
        while not self._stop.is_set():
            self._ping()
            try:
                kind, t = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.state is State.SPEAKING and not self.speaker.busy:
                    self.state = State.IDLE
                continue
            if kind is Press.QUIT:
                break
            try:
                self._handle(kind, t)
            except Exception as e:  # a bug must cost one answer, never the daemon: said, logged, and on
                log.exception("press failed unexpectedly: %s", e)
                self._said_failure(t)
            self._coalesce()
        if self.notifier:
            self.notifier.stopping()
        return 0

    def talking(self) -> bool:
        """Saying an answer: a short press now means "stop talking"."""
        return self.state is State.SPEAKING and self.speaker.busy

    def _handle(self, kind: Press, t: float) -> None:
        if self.talking():
            self.stats["stops"] += 1
            self.state = State.IDLE
            self.speaker.stop()
            if kind is Press.SHORT:
                return  # press while speaking = stop talking
        self.stats["accepted"] += 1
        self._asking = kind.name.lower()
        self.stats[f"accepted_{self._asking}"] += 1
        if kind is Press.LONG:
            self._repeat(t)
        elif kind is Press.DOUBLE:
            self._read(t)
        else:
            self._describe(t)

    def _said_failure(self, t: float) -> None:
        """After an unexpected failure: the press that was accepted still gets its one answer."""
        if self.stats["answers"] >= self.stats["accepted"]:
            return  # it failed stopping speech, or after its answer was on its way
        try:
            self._say(SAY["model"], "model", t)
        except Exception as e:
            log.error("could not say the failure either: %s", e)
            self.state = State.IDLE

    def _coalesce(self) -> None:
        """Presses that came while capturing/thinking are absorbed: the answer is already on its way."""
        while True:
            try:
                kind, t = self.events.get_nowait()
            except queue.Empty:
                return
            if kind is Press.QUIT:
                self._stop.set()
                return
            self.stats["coalesced"] += 1

    def _repeat(self, t: float) -> None:
        if self.last_description:
            self._say(self.last_description, "repeat", t)
        else:
            self._say(SAY["nothing_yet"], "nothing_yet", t)

    def _capture(self, t: float):
        """The camera frame, or None once the failure has been said."""
        try:
            frame = self.camera.capture()
            if frame is None:  # None means "already said" here: a driver's None must not be silence
                raise CameraError("the camera gave no frame")
            return frame
        except ImageError as e:
            log.error("frame unreadable: %s", e)
            return self._say(SAY["image"], "image", t)
        except CameraError as e:
            log.error("camera: %s", e)
            try:
                self.camera.close()  # reopened on the next press, when it is back
            except Exception:
                pass
            return self._say(SAY["camera"], "camera", t)
        except Exception as e:
            log.exception("camera failed unexpectedly: %s", e)
            return self._say(SAY["camera"], "camera", t)

    def _read(self, t: float) -> None:
        self.state = State.CAPTURING
        if self.cfg.speech.earcons:
            self.speaker.earcon("heard")
        if self.reader is None:
            return self._say(SAY_READ["no_reader"], "no_reader", t)
        frame = self._capture(t)
        if frame is None:
            return
        self.state = State.THINKING
        self._ping()
        try:
            text, kind = read_frame(self.reader, frame, self.settings.frame)
        except Exception as e:
            log.exception("reading failed: %s", e)
            return self._say(SAY_READ["failed"], "failed", t)
        log.info("read %s: %r", kind, text)
        if kind == "text":
            self.last_description = text  # a long press repeats what was read
        self._say(text, kind, t)

    def _describe(self, t: float) -> None:
        self.state = State.CAPTURING
        if self.cfg.speech.earcons:
            self.speaker.earcon("heard")
        if self.captioner is None and not self._load():
            return self._say(SAY["no_model"], "no_model", t)
        frame = self._capture(t)
        if frame is None:
            return
        try:
            pixels = to_model_input(frame, self.captioner.bundle.image_size, self.captioner.bundle.geometry)
        except ImageError as e:
            log.error("frame unreadable: %s", e)
            return self._say(SAY["image"], "image", t)
        problem = self.settings.frame.problem(pixels)
        if problem:
            return self._say(ADVICE[problem], problem, t)
        self.state = State.THINKING
        self._ping()
        try:
            cap = self.captioner.caption(pixels, beam=self.cfg.model.beam)
        except Exception as e:
            log.exception("captioning failed: %s", e)
            return self._say(SAY["model"], "model", t)
        d = compose(cap, self.captioner.objects, self.settings)
        log.info(
            "said %r (caption %r, mean log p %.2f, %.0f ms)",
            d.text,
            cap.text,
            cap.mean_logprob,
            cap.timings_ms["total"],
        )
        self.last_description = d.text
        self._say(d.text, "caption" if d.caption_said else d.kind, t, cap.timings_ms["total"])
        self._text_part(frame)

    def _text_part(self, frame) -> None:
        """While the description is being said: the short text in view ("It says: ..."), read now,
        after the description started, so it costs a single press no time to first audio."""
        if self.reader is None or not self.cfg.reading.say_text:
            return
        try:
            said = short_text(self.reader, frame)
        except Exception as e:  # the text is extra: a failure costs only the text
            log.warning("reading the text of a description failed: %s", e)
            return
        if said is None or not self.events.empty():  # not when a press is already waiting (to stop it, say)
            return
        self.stats["texts"] += 1
        self.speaker.say(said)
        self.last_description = f"{self.last_description} {said}"

    def close(self) -> None:
        """Close the camera, the captioner and the reader; each failure is logged, never raised."""
        for part in (self.camera, self.captioner, self.reader):
            try:
                if part is not None:
                    part.close()
            except Exception as e:
                log.warning("closing %s: %s", type(part).__name__, e)


def speech_error_logger(e: Exception) -> None:
    """Speaker failures: logged (the speaker is what failed, so it cannot be said)."""
    if isinstance(e, (SpeechError, SeesayError)):
        log.error("speech output failed: %s", e)
    else:
        log.exception("speech output failed: %s", e)
