"""The exception tree. Leaves also inherit the matching built-in, so callers may catch either.
And the two pieces every command line shares: errors as one line, and exit codes."""

import argparse
import sys


class SeesayError(Exception):
    """Base of every error seesay raises on purpose; the message says what to do."""


class BundleError(SeesayError, ValueError):
    """A model bundle is missing, corrupt or from an incompatible version."""


class BundleMissingError(BundleError, FileNotFoundError):
    """A bundle folder or one of its files does not exist."""


class ConfigError(SeesayError, ValueError):
    """A configuration file or option is invalid."""


class BackendUnavailableError(SeesayError, ImportError):
    """A runtime (TFLite, Edge TPU, TensorRT) is not installed on this machine."""


class OCRUnavailableError(BackendUnavailableError):
    """The configured text-reading engine (Tesseract, RapidOCR) is not installed."""


class ImageError(SeesayError, ValueError):
    """An image could not be read or decoded."""


class CameraError(SeesayError, OSError):
    """The camera is missing, busy or stopped delivering frames."""


class SpeechError(SeesayError, OSError):
    """Speech synthesis or the audio output failed."""


class OutputPathError(SeesayError, OSError):
    """A file or folder the user asked output to go to cannot be written."""


class ButtonError(SeesayError, OSError):
    """The GPIO button could not be set up (no pin library, a pin in use, a bad pin number)."""


def message_line(text: str, last: bool = False, limit: int = 300) -> str:
    """One non-blank line of another program's message, clipped, for a one-line error: the first
    (a runtime's own sentence) or the last (a player's verdict, after its chatter). "" if none."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if not lines:
        return ""
    return lines[-1][-limit:] if last else lines[0][:limit]


def run_cli(body) -> int:
    """Run a command-line body: a SeesayError becomes "error: ..." on stderr and exit code 2, never a traceback."""
    try:
        return body() or 0
    except SeesayError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


class OneLineParser(argparse.ArgumentParser):
    """A mistyped command line is one line, like every other error: what was wrong and where the help is."""

    def error(self, message):
        """Exit 2 with one line: the problem and where the help is."""
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")
