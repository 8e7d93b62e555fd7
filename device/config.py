"""Device configuration: TOML (/etc/seesay/seesay.toml by default), typed, validated; unknown keys are
rejected by name. Defaults work without a file. Plain frozen data: loading has no side effects."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

DEFAULT_PATH = Path("/etc/seesay/seesay.toml")


@dataclass(frozen=True)
class ModelSettings:
    """[model]: which bundle, on which runtime, how wide a search."""

    bundle: str = "/var/lib/seesay/bundle"  # bundle folder written by `python -m convert build`
    backend: str = "cpu"  # cpu | edgetpu | tensorrt
    # TFLite CPU threads for the encoder (a Pi has 4 cores; leave some for audio and camera); the
    # decoder step runs on one thread (a few small ops on a batch of beams)
    threads: int = 2
    beam: int = 3  # beam width; 1 = greedy (faster, slightly worse captions)
    edgetpu_device: str = ""  # backend = edgetpu: which Coral; "" the first found, or "usb", "pci", "usb:1"


@dataclass(frozen=True)
class CameraSettings:
    """[camera]: where frames come from and at what size (pixels)."""

    source: str = "picamera2"  # picamera2 | opencv | files
    device: str = "0"  # opencv: index or device path / GStreamer pipeline; picamera2: the camera's index
    path: str = ""  # files: an image or a folder of images
    width: int = 1280  # capture width, pixels (the model crops to a centre square)
    height: int = 960  # capture height, pixels


@dataclass(frozen=True)
class ButtonSettings:
    """[button]: the push button (BCM pin to ground), its debounce and hold times."""

    kind: str = "gpio"  # gpio | keyboard | none
    pin: int = 17  # BCM pin number; the button connects it to ground
    bounce_ms: int = 30  # debounce time, milliseconds
    hold_s: float = 1.0  # a press held this long (seconds) repeats the last description


@dataclass(frozen=True)
class SpeechSettings:
    """[speech]: espeak-ng's voice, rate and volume, and where the sound goes."""

    engine: str = "library"  # library (libespeak-ng via ctypes) | command (espeak-ng process)
    output: str = "player"  # player (stream to the sound device) | wav (files in wav_dir)
    player: tuple[str, ...] = (
        "aplay",
        "-q",
        "-t",
        "raw",
        "-f",
        "S16_LE",
        "-c",
        "1",
        "-r",
        "{rate}",
        "-",
    )  # {rate} = Hz
    wav_dir: str = "/var/lib/seesay/wav"  # output = wav: where utterances are written
    voice: str = "en-us"  # espeak-ng voice name
    rate_wpm: int = 165  # words per minute
    volume: int = 100  # espeak-ng amplitude, 0..200
    earcons: bool = True  # short tones: press heard, error


@dataclass(frozen=True)
class BehaviourSettings:
    """[behaviour]: how sure a description must be to be said, and the frame check's thresholds. Each
    threshold left out (None) is the bundle's, chosen on dev photos (manifest "answer")."""

    grounding: bool = True  # steer and re-rank the beams with the bundle's class head (its tuned penalty)
    segmenter: bool = True  # also run the bundle's segmenter, when it has one (whether there is a person)
    busy_queue: int = 8  # at most this many button events wait; more are dropped (coalesced)
    caption_min_logprob: float | None = None  # mean log p per word (<= 0) a caption needs to be said
    object_min_p: float | None = None  # probability (0..1) of a noun's best class for "I see" it
    max_objects: int | None = None  # nouns said at most after "I see" (0..5; 0: never)
    trust_objects: float | None = None  # an object this sure (0..1) that the caption does not name silences it
    person_min: float | None = None  # person detector score (0..1) a caption naming people needs
    min_contrast: float | None = None  # luma standard deviation (0..255) below which the lens seems covered
    min_brightness: float | None = None  # mean luma (0..255) below which it is too dark
    min_highlight: float | None = None  # 99th percentile of luma (0..255) below which it is too dark
    max_brightness: float | None = None  # mean luma (0..255) above which it is too bright
    max_glare: float | None = None  # share of the frame (0..1) washed out above which there is a glare
    min_detail: float | None = None  # edge sharpness (see device.frame_check) below which it is blurred


@dataclass(frozen=True)
class ReadingSettings:
    # auto = the best installed engine (ppocr-tesseract, then tesseract), else no reading | ppocr-tesseract
    # | tesseract | rapidocr | none. With an engine, a double press reads the text in view.
    """[reading]: the text reader and the double press."""
    engine: str = "auto"
    # a second short press starting within this many seconds of the first one's start reads instead
    # of describing; a single press is described this long after it went down (only with an engine)
    double_press_s: float = 0.4
    threads: int = 2  # CPU threads of the reader
    # a description ends with the short text in view ("It says: ..."), read while the description is
    # said (no delay); a double press reads all of it
    say_text: bool = True


@dataclass(frozen=True)
class Config:
    """The whole device configuration, one frozen section per TOML table."""

    model: ModelSettings = field(default_factory=ModelSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    button: ButtonSettings = field(default_factory=ButtonSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    behaviour: BehaviourSettings = field(default_factory=BehaviourSettings)
    reading: ReadingSettings = field(default_factory=ReadingSettings)


_CHOICES = {
    ("model", "backend"): ("cpu", "edgetpu", "tensorrt"),
    ("camera", "source"): ("picamera2", "opencv", "files"),
    ("button", "kind"): ("gpio", "keyboard", "none"),
    ("speech", "engine"): ("library", "command"),
    ("speech", "output"): ("player", "wav"),
    ("reading", "engine"): ("auto", "ppocr-tesseract", "tesseract", "rapidocr", "none"),
}


def _section(cls, name: str, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {name}.{unknown[0]} (known: {', '.join(fields)})")
    out = {}
    for k, v in data.items():
        default = fields[k].default
        # an optional threshold (default None: the bundle's) takes the type its annotation names
        typ = type(default) if default is not None else float if "float" in str(fields[k].type) else int
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if typ is tuple and isinstance(v, list):
            v = tuple(v)
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise ConfigError(f"{where}: {name}.{k} must be {typ.__name__}, got {v!r}")
        if (name, k) in _CHOICES and v not in _CHOICES[(name, k)]:
            raise ConfigError(f"{where}: {name}.{k} = {v!r}; choose one of {', '.join(_CHOICES[(name, k)])}")
        out[k] = v
    return cls(**out)


def parse_config(data: dict, where: str = "config") -> Config:
    """A decoded TOML document -> Config; unknown keys, wrong types and out-of-range values are a
    ConfigError naming the key (where: the file, for the message)."""
    sections = {f.name: f.default_factory().__class__ for f in dataclasses.fields(Config)}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(f"{where}: unknown section [{unknown[0]}] (known: {', '.join(sections)})")
    cfg = Config(**{n: _section(cls, n, data.get(n, {}), where) for n, cls in sections.items()})
    if cfg.camera.source == "files" and not cfg.camera.path:
        raise ConfigError(f"{where}: camera.source = \"files\" needs camera.path (an image or a folder)")
    if not 0.05 <= cfg.reading.double_press_s <= 2.0:
        raise ConfigError(f"{where}: reading.double_press_s = {cfg.reading.double_press_s}; give 0.05 to 2 seconds")
    try:
        answer_settings(cfg.behaviour)  # the overrides' own ranges, before any bundle is read
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if cfg.model.beam < 1 or cfg.model.threads < 1 or cfg.reading.threads < 1:
        raise ConfigError(f"{where}: model.beam, model.threads and reading.threads must be at least 1")
    return cfg


def load_config(path: str | Path | None = None) -> Config:
    """path None: the default file if it exists, else built-in defaults."""
    if path is None:
        if not DEFAULT_PATH.is_file():
            return Config()
        path = DEFAULT_PATH
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"config {path} is not a file (a folder, pipe or device); give the TOML file itself")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8 TOML") from None
    except OSError as e:
        raise ConfigError(f"config {path} cannot be read ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a seesay config") from None
    return parse_config(data, str(path))


FRAME_KEYS = ("min_contrast", "min_brightness", "min_highlight", "max_brightness", "max_glare", "min_detail")
ANSWER_KEYS = ("caption_min_logprob", "object_min_p", "max_objects", "trust_objects", "person_min")


def answer_settings(b: BehaviourSettings, manifest: dict | None = None):
    """The bundle's answer settings (manifest "answer"; built-in defaults without one) with the
    config's [behaviour] overrides; -> device.answer.AnswerSettings, range-checked (ConfigError)."""
    from .answer import AnswerSettings, check_ranges

    try:
        base = AnswerSettings.from_json((manifest or {}).get("answer") or {})
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"the bundle's answer settings are not usable ({e}); run `python -m convert " "tune-answers` on it again"
        ) from e
    frame = {k: getattr(b, k) for k in FRAME_KEYS if getattr(b, k) is not None}
    top = {k: getattr(b, k) for k in ANSWER_KEYS if getattr(b, k) is not None}
    try:
        return check_ranges(dataclasses.replace(base, frame=dataclasses.replace(base.frame, **frame), **top))
    except ValueError as e:
        raise ConfigError(f"[behaviour] {e}") from e


def replace(cfg: Config, **sections) -> Config:
    """A copy with some fields changed: replace(cfg, camera={"source": "files"})."""
    return dataclasses.replace(cfg, **{k: dataclasses.replace(getattr(cfg, k), **v) for k, v in sections.items()})
