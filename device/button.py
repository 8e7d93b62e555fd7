"""Buttons: gpiozero on a GPIO pin, or the keyboard for a desktop demo. They only report events
(SHORT, LONG) to a callback; the daemon's worker loop does the work."""

from __future__ import annotations

import enum
import io
import logging
import sys
import threading
import time
import warnings
from typing import Callable

from .errors import ButtonError

log = logging.getLogger("seesay.button")


class Press(enum.Enum):
    """What a button event asks for."""

    SHORT = "short"  # describe / stop talking
    LONG = "long"  # repeat the last description
    DOUBLE = "double"  # two short presses: read the text in view
    QUIT = "quit"  # keyboard only: leave the demo


class GPIOButton:
    """A push button between a GPIO pin (BCM numbering) and ground. Released before hold_s: SHORT;
    held hold_s: LONG (once; the release that follows is not a SHORT)."""

    def __init__(
        self,
        pin: int,
        on_press: Callable[[Press], None],
        bounce_ms: int = 30,
        hold_s: float = 1.0,
        pin_factory=None,
        on_down: Callable[[], None] | None = None,
    ):
        """on_down: told as the button goes down (DoublePress.down), before anything is emitted."""
        try:
            from gpiozero import Button
            from gpiozero.exc import GPIOZeroError
        except ImportError as e:
            raise ButtonError("gpiozero is not installed: pip install gpiozero (and python3-lgpio on a Pi)") from e
        self._held, self.button = False, None
        self._emit, self._on_down = on_press, on_down
        # gpiozero tries its pin libraries in turn and says why each failed only as warnings: they are
        # kept, to explain a failure, or logged when a fallback worked
        with warnings.catch_warnings(record=True) as fell_back:
            warnings.simplefilter("always")
            try:
                self.button = Button(
                    pin,
                    pull_up=True,
                    bounce_time=bounce_ms / 1000 if bounce_ms else None,
                    hold_time=hold_s,
                    pin_factory=pin_factory,
                )
            except GPIOZeroError as e:
                raise ButtonError(_setup_advice(pin, e, [str(w.message) for w in fell_back])) from e
        for w in fell_back:
            log.warning("gpiozero: %s", w.message)
        self.button.when_pressed = self._pressed
        self.button.when_held = self._on_held
        self.button.when_released = self._released

    def _pressed(self):
        self._held = False
        if self._on_down is not None:
            self._on_down()

    def _on_held(self):
        self._held = True
        self._emit(Press.LONG)

    def _released(self):
        if not self._held:
            self._emit(Press.SHORT)
        self._held = False

    def close(self) -> None:
        """Release the pin; idempotent."""
        if self.button is not None:
            self.button.close()
            self.button = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DoublePress:
    """Between a button and the daemon: a second short press that starts within window_s of the
    first one's start makes one DOUBLE; a lone short press is passed on window_s after it started
    (the wait, less the time the button was down, is the price of double presses, paid only while
    reading is on). While the device talks (talking() is true) a short press is passed on at once,
    as "stop talking" needs no wait, and the window still opens: a second press in it is a DOUBLE.
    LONG and QUIT pass straight through, after a pending short press, so the order of events is
    kept. down() is the button going down (GPIOButton's on_down); without it the window counts
    from each release."""

    def __init__(self, on_press: Callable[[Press], None], window_s: float, talking: Callable[[], bool] = lambda: False):
        self._emit, self.window_s, self._talking = on_press, window_s, talking
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None  # a first short press waits for a second
        self._second = False  # the second press of a double is down
        self._down_t: float | None = None  # when the first press went down (monotonic s)
        self._passed_on = False  # the waiting short press already went out (a stop)

    def down(self) -> None:
        """A press went down (gpiozero's when_pressed): opens the window, or makes the second press of a double."""
        with self._lock:
            if self._timer is not None:  # within the window: the second press of a double
                self._timer.cancel()
                self._timer = None
                self._second = True
            elif not self._second:
                self._down_t = time.monotonic()

    def __call__(self, kind: Press) -> None:
        """A finished press: SHORT waits out the window for a second one; LONG and the rest pass at once."""
        if kind is not Press.SHORT:
            self._flush()
            self._emit(kind)
            return
        now = self._talking()
        with self._lock:
            if self._second or self._timer is not None:  # the second press of a double, released
                if self._timer is not None:
                    self._timer.cancel()
                self._timer, self._second = None, False
                out = Press.DOUBLE
            else:
                started, self._down_t = self._down_t, None
                wait = self.window_s if started is None else max(0.0, self.window_s - (time.monotonic() - started))
                self._timer = t = threading.Timer(wait, self._expired)
                t.daemon = True
                self._passed_on = now
                t.start()
                out = Press.SHORT if now else None
        if out is not None:
            self._emit(out)

    def _expired(self) -> None:
        with self._lock:
            mine = self._timer is not None and self._timer is threading.current_thread()  # not a newer one
            if mine:
                self._timer = None
            due = mine and not self._passed_on
        if due:
            self._emit(Press.SHORT)

    def _flush(self) -> None:
        """A hold or a quit: the short press still waiting goes out first."""
        with self._lock:
            pending = self._timer is not None or self._second
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._second, self._down_t = None, False, None
            due = pending and not self._passed_on
        if due:
            self._emit(Press.SHORT)

    def close(self) -> None:
        """Cancel a pending window; idempotent."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def _setup_advice(pin: int, e: Exception, fell_back: list[str]) -> str:
    from gpiozero.exc import BadPinFactory

    why = f" ({'; '.join(fell_back)})" if fell_back else ""
    if isinstance(e, BadPinFactory):
        fix = (
            "No GPIO pin library works here. On a Raspberry Pi: sudo apt install python3-lgpio, in a venv "
            "made with --system-site-packages (install.sh does both); on a machine without GPIO set "
            '[button] kind = "keyboard" or "none"'
        )
    else:
        fix = f"Check [button] pin (BCM numbering) and that no other program (another seesay?) uses GPIO{pin}"
    return f"the button on GPIO{pin} could not be set up: {e}{why}. {fix}"


class KeyboardButton:
    """Enter = short press, `r` Enter = long press (repeat), `d` Enter = double press (read text),
    `q` Enter or end of input = quit."""

    def __init__(self, on_press: Callable[[Press], None], stream=None):
        self._emit, self._stream = on_press, stream or sys.stdin
        self._thread = threading.Thread(target=self._run, name="keyboard", daemon=True)
        self._thread.start()

    def _run(self):
        stream = self._stream
        if stream is sys.stdin and hasattr(stream, "buffer"):  # bytes that are not UTF-8 must not end the thread
            stream = io.TextIOWrapper(stream.buffer, encoding="utf-8", errors="replace")
        for line in stream:
            if "\ufffd" in line:
                log.warning("keyboard: a line that is not UTF-8 text was ignored")
                continue
            cmd = line.strip().lower()
            if cmd in ("q", "quit", "exit"):
                break
            self._emit(
                Press.LONG
                if cmd in ("r", "repeat", "l")
                else Press.DOUBLE if cmd in ("d", "read", "2") else Press.SHORT
            )
        self._emit(Press.QUIT)

    def close(self) -> None:
        """Nothing to free: the reader thread ends with the process; idempotent."""
        pass  # the reader thread is a daemon thread blocked on input; it ends with the process


def make_button(cfg, on_press, pin_factory=None, on_down=None):
    """The button for [button] settings calling on_press(Press) (and on_down() as a press goes down);
    pin_factory: gpiozero's (tests: MockFactory). kind none: no button, None."""
    if cfg.kind == "gpio":
        return GPIOButton(cfg.pin, on_press, cfg.bounce_ms, cfg.hold_s, pin_factory, on_down)
    if cfg.kind == "keyboard":
        return KeyboardButton(on_press)
    return None
