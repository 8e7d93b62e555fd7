"""The bundle: the one contract between convert/ and device/.

A folder with manifest.json, encoder.tflite, decoder.tflite, vocab.json (and target variants).
The manifest carries the schema version, model config, preprocessing spec, tensor names, dtypes and
quantisation parameters, search defaults, reference metrics and a sha256 per file. load_bundle()
refuses anything it cannot verify, saying which file and why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import BundleError, BundleMissingError, SeesayError
from .preprocess import DEFAULT_GEOMETRY, GEOMETRIES
from .vocab import Vocabulary

log = logging.getLogger("seesay.bundle")
SCHEMA = "seesay-bundle"
SCHEMA_VERSION = 1


SHIPPED_BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "flickr8k"  # in a checkout
INSTALLED_BUNDLE = Path("/var/lib/seesay/bundle")  # where install.sh puts it


def default_bundle_dir() -> str:
    """$SEESAY_BUNDLE, else the installed bundle, else the one that ships with this checkout."""
    env = os.environ.get("SEESAY_BUNDLE")
    if env:
        return env
    return str(INSTALLED_BUNDLE if (INSTALLED_BUNDLE / "manifest.json").is_file() else SHIPPED_BUNDLE)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the manifest describes it; real = scale * (q - zero_point) when scale > 0."""

    name: str  # signature name
    shape: tuple[int, ...]  # -1 = dynamic (batch)
    dtype: str  # numpy dtype name: uint8 | int8 | int32 | float32 | float16
    scale: float  # quantisation scale; 0.0 when not quantised
    zero_point: int

    @classmethod
    def from_json(cls, name: str, d: dict) -> "TensorSpec":
        """From the manifest's entry for the tensor called name."""
        return cls(name, tuple(d["shape"]), d["dtype"], float(d.get("scale", 0.0)), int(d.get("zero_point", 0)))


@dataclass(frozen=True)
class ModelSpec:
    """One model file of the bundle and its named inputs and outputs."""

    file: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]

    @classmethod
    def from_json(cls, d: dict) -> "ModelSpec":
        """From the manifest's "encoder" or "decoder" entry."""
        return cls(
            d["file"],
            {n: TensorSpec.from_json(n, t) for n, t in d["inputs"].items()},
            {n: TensorSpec.from_json(n, t) for n, t in d["outputs"].items()},
        )


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder, manifest, vocabulary and the two models' tensor specs."""

    path: Path
    manifest: dict
    vocab: Vocabulary
    encoder: ModelSpec
    decoder: ModelSpec

    @property
    def state_names(self) -> tuple[str, ...]:
        """The decoder's recurrent state tensors, in order ("h", "c" for an LSTM)."""
        return tuple(self.manifest["decoder"]["state"])

    @property
    def image_size(self) -> int:
        """The square input size of the encoder, pixels."""
        return int(self.manifest["preprocess"]["size"])

    @property
    def geometry(self) -> str:
        """How frames become square for this model (device.preprocess.GEOMETRIES); older bundles centre-crop."""
        return self.manifest["preprocess"].get("geometry", DEFAULT_GEOMETRY)

    @property
    def search_defaults(self) -> dict:
        """The manifest's search settings (beam, max_len, length_penalty, grounding)."""
        return dict(self.manifest.get("search", {}))

    def file(self, name: str) -> Path:
        """A file of the bundle, by its name in the manifest."""
        return self.path / name

    def variant(self, target: str) -> dict | None:
        """The manifest's entry for a target ("edgetpu", "tensorrt"), or None."""
        return self.manifest.get("variants", {}).get(target)


def _own_file(path: Path, name) -> Path:
    """A file the manifest names, refused unless it is a plain name inside the bundle folder (no
    absolute path, no "..", no symlink out): a bundle names only its own files."""
    _require(
        isinstance(name, str) and 0 < len(name) < 256 and "\0" not in name,
        f"bundle {path}: {str(name)[:60]!r} in manifest.json is not a file name",
    )
    f = path / name
    try:
        inside = path.resolve() in f.resolve().parents
    except (OSError, RuntimeError, ValueError) as e:
        raise BundleError(f"bundle {path}: {name[:60]!r} in manifest.json cannot be resolved ({e})") from e
    _require(
        not Path(name).is_absolute() and inside,
        f"bundle {path}: {name[:60]!r} in manifest.json points outside the bundle folder; "
        "a bundle may name only its own files",
    )
    return f


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 1000


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_search(path: Path, manifest: dict) -> None:
    """The search and grounding defaults the device will use: whole numbers where it counts, finite numbers else."""
    from .grounding import GroundingSettings

    sd = manifest.get("search", {})
    _require(isinstance(sd, dict), f"bundle {path}: manifest.json's search entry is not a table")
    _require(_count(manifest["model"].get("max_len")), f"bundle {path}: model max_len must be a whole number 1..1000")
    for k in ("beam", "max_len"):
        _require(
            k not in sd or _count(sd[k]), f"bundle {path}: search {k} must be a whole number 1..1000, not {sd.get(k)!r}"
        )
    _require(_number(sd.get("length_penalty", 1.0)), f"bundle {path}: search length_penalty must be a number")
    g = sd.get("grounding", {})
    known = {f.name for f in dataclasses.fields(GroundingSettings)}
    _require(
        isinstance(g, dict) and set(g) <= known and all(_number(v) for v in g.values()),
        f"bundle {path}: search grounding must be a table of numbers ({', '.join(sorted(known))})",
    )
    _require(
        all(0 < g[k] <= 1 for k in ("min_evidence", "min_coverage", "min_person") if k in g)
        and 0 <= g.get("penalty", 0.0) <= 100,
        f"bundle {path}: search grounding thresholds must be in (0, 1] and its penalty in [0, 100]",
    )


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise BundleError(msg)


def swap_survivor(path: Path) -> Path:
    """The bundle to load: PATH, or, when a swap by install.sh was cut short between its two renames
    (PATH gone, the old one renamed aside to PATH.old), the old bundle, which is whole."""
    old = path.with_name(path.name + ".old")
    if not path.exists() and (old / "manifest.json").is_file():
        log.warning(
            "bundle %s is missing but %s is there (a bundle swap was cut short): using it; "
            "run install.sh again to finish the swap",
            path,
            old,
        )
        return old
    return path


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle folder. verify=True checks every file's sha256."""
    path = swap_survivor(Path(path))
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise BundleMissingError(
            f"bundle {path}: no such folder; build one with `python -m convert build CHECKPOINT --out {path}`"
        )
    if not mpath.is_file():
        raise BundleMissingError(f"bundle {path}: manifest.json is missing; this folder is not a seesay bundle")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"bundle {path}: manifest.json is not valid JSON ({e}); re-copy the bundle") from e
    _require(isinstance(manifest, dict), f"bundle {path}: manifest.json is not a JSON object; re-copy the bundle")
    try:
        _require(
            manifest.get("schema") == SCHEMA,
            f"bundle {path}: manifest schema is {manifest.get('schema')!r}, not {SCHEMA!r}",
        )
        _require(
            manifest.get("schema_version") == SCHEMA_VERSION,
            f"bundle {path}: schema version {manifest.get('schema_version')} but this device reads version "
            f"{SCHEMA_VERSION}; convert the checkpoint again with this seesay version",
        )
        files = manifest.get("files", {})
        for key in ("encoder", "decoder", "vocab", "model", "preprocess"):
            _require(key in manifest, f"bundle {path}: manifest.json has no {key!r} entry")
        needed = [manifest["encoder"]["file"], manifest["decoder"]["file"], manifest["vocab"]]
        needed += [manifest["objects"]] if manifest.get("objects") else []
        needed += [manifest["segmenter"]["file"]] if manifest.get("segmenter") else []
        needed += [manifest["person_detector"]["file"]] if manifest.get("person_detector") else []
        for name in needed:
            _require(
                isinstance(name, str) and name in files,
                f"bundle {path}: {str(name)[:60]} has no sha256 in manifest.json",
            )
        for name, digest in files.items():
            f = _own_file(path, name)
            if not f.is_file():
                raise BundleMissingError(f"bundle {path}: {name} is missing (listed in manifest.json)")
            if verify:
                got = sha256_file(f)
                _require(
                    got == digest,
                    f"bundle {path}: {name} fails its checksum (sha256 {got[:12]}..., manifest says "
                    f"{digest[:12]}...): the file is corrupt or was changed; copy the bundle again",
                )
        try:
            vocab = Vocabulary.load(_own_file(path, manifest["vocab"]))
        except SeesayError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BundleError(f"bundle {path}: {manifest['vocab']} is not a valid vocabulary ({e})") from e
        vs = manifest["model"].get("vocab_size")
        _require(len(vocab) == vs, f"bundle {path}: vocabulary has {len(vocab)} words but the model expects {vs}")
        geometry = (
            manifest["preprocess"].get("geometry", DEFAULT_GEOMETRY)
            if isinstance(manifest["preprocess"], dict)
            else None
        )
        _require(
            geometry in GEOMETRIES,
            f"bundle {path}: preprocess geometry {geometry!r} is not one of "
            f"{', '.join(GEOMETRIES)}; convert the checkpoint again with this seesay version",
        )
        enc, dec = ModelSpec.from_json(manifest["encoder"]), ModelSpec.from_json(manifest["decoder"])
        _check_search(path, manifest)
        if manifest.get("answer") is not None:  # tuned answer settings: in range, or the bundle is refused
            from .answer import AnswerSettings

            _require(isinstance(manifest["answer"], dict), f"bundle {path}: manifest answer settings are not a table")
            try:
                AnswerSettings.from_json(manifest["answer"])
            except (TypeError, ValueError) as e:
                raise BundleError(
                    f"bundle {path}: its answer settings are not usable ({e}); run `python -m convert "
                    "tune-answers` on it again"
                ) from e
        _require(
            "logits" in dec.outputs and dec.outputs["logits"].shape[-1] == len(vocab),
            f"bundle {path}: decoder emits {dec.outputs['logits'].shape[-1]} logits for {len(vocab)} words",
        )
    except SeesayError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:  # a value of the wrong kind or shape
        raise BundleError(
            f"bundle {path}: manifest.json describes the models incompletely or with values of the "
            f"wrong kind ({type(e).__name__}: {e}); convert the checkpoint again with this seesay version"
        ) from e
    return Bundle(path, manifest, vocab, enc, dec)
