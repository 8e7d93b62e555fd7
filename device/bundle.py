"""The bundle: the one contract between convert/ and device/.

A folder with manifest.json, encoder.tflite, decoder.tflite, vocab.json (and target variants).
The manifest carries the schema version, model config, preprocessing spec, tensor names, dtypes and
quantisation parameters, search defaults, reference metrics and a sha256 per file. load_bundle()
refuses anything it cannot verify, saying which file and why.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import BundleError, BundleMissingError
from .preprocess import DEFAULT_GEOMETRY, GEOMETRIES
from .vocab import Vocabulary

SCHEMA = "seesay-bundle"
SCHEMA_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    name: str  # signature name
    shape: tuple[int, ...]  # -1 = dynamic (batch)
    dtype: str  # numpy dtype name: uint8 | int8 | int32 | float32 | float16
    scale: float  # quantisation scale; 0.0 when not quantised
    zero_point: int

    @classmethod
    def from_json(cls, name: str, d: dict) -> "TensorSpec":
        return cls(name, tuple(d["shape"]), d["dtype"], float(d.get("scale", 0.0)), int(d.get("zero_point", 0)))


@dataclass(frozen=True)
class ModelSpec:
    file: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]

    @classmethod
    def from_json(cls, d: dict) -> "ModelSpec":
        return cls(d["file"], {n: TensorSpec.from_json(n, t) for n, t in d["inputs"].items()},
                   {n: TensorSpec.from_json(n, t) for n, t in d["outputs"].items()})


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict
    vocab: Vocabulary
    encoder: ModelSpec
    decoder: ModelSpec

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["decoder"]["state"])

    @property
    def image_size(self) -> int:
        return int(self.manifest["preprocess"]["size"])

    @property
    def geometry(self) -> str:
        """How frames become square for this model (device.preprocess.GEOMETRIES); older bundles centre-crop."""
        return self.manifest["preprocess"].get("geometry", DEFAULT_GEOMETRY)

    @property
    def search_defaults(self) -> dict:
        return dict(self.manifest.get("search", {}))

    def file(self, name: str) -> Path:
        return self.path / name

    def variant(self, target: str) -> dict | None:
        return self.manifest.get("variants", {}).get(target)


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise BundleError(msg)


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle folder. verify=True checks every file's sha256."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise BundleMissingError(f"bundle {path}: no such folder; build one with `python -m convert CHECKPOINT --out {path}`")
    if not mpath.is_file():
        raise BundleMissingError(f"bundle {path}: manifest.json is missing; this folder is not a seesay bundle")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"bundle {path}: manifest.json is not valid JSON ({e}); re-copy the bundle") from e
    _require(manifest.get("schema") == SCHEMA, f"bundle {path}: manifest schema is {manifest.get('schema')!r}, not {SCHEMA!r}")
    _require(manifest.get("schema_version") == SCHEMA_VERSION,
             f"bundle {path}: schema version {manifest.get('schema_version')} but this device reads version "
             f"{SCHEMA_VERSION}; convert the checkpoint again with this seesay version")
    files = manifest.get("files", {})
    for key in ("encoder", "decoder", "vocab", "model", "preprocess"):
        _require(key in manifest, f"bundle {path}: manifest.json has no {key!r} entry")
    needed = [manifest["encoder"]["file"], manifest["decoder"]["file"], manifest["vocab"]]
    needed += [manifest["objects"]] if manifest.get("objects") else []
    needed += [manifest["segmenter"]["file"]] if manifest.get("segmenter") else []
    for name in needed:
        _require(name in files, f"bundle {path}: {name} has no sha256 in manifest.json")
    for name, digest in files.items():
        f = path / name
        if not f.is_file():
            raise BundleMissingError(f"bundle {path}: {name} is missing (listed in manifest.json)")
        if verify:
            got = sha256_file(f)
            _require(got == digest, f"bundle {path}: {name} fails its checksum (sha256 {got[:12]}..., manifest says "
                                    f"{digest[:12]}...): the file is corrupt or was changed; copy the bundle again")
    try:
        vocab = Vocabulary.load(path / manifest["vocab"])
    except (ValueError, KeyError) as e:
        raise BundleError(f"bundle {path}: {manifest['vocab']} is not a valid vocabulary ({e})") from e
    vs = manifest["model"].get("vocab_size")
    _require(len(vocab) == vs, f"bundle {path}: vocabulary has {len(vocab)} words but the model expects {vs}")
    geometry = manifest["preprocess"].get("geometry", DEFAULT_GEOMETRY) if isinstance(manifest["preprocess"], dict) else None
    _require(geometry in GEOMETRIES, f"bundle {path}: preprocess geometry {geometry!r} is not one of "
                                     f"{', '.join(GEOMETRIES)}; convert the checkpoint again with this seesay version")
    try:
        enc, dec = ModelSpec.from_json(manifest["encoder"]), ModelSpec.from_json(manifest["decoder"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BundleError(f"bundle {path}: manifest.json describes the models incompletely ({type(e).__name__}: {e}); "
                          "convert the checkpoint again with this seesay version") from e
    _require("logits" in dec.outputs and dec.outputs["logits"].shape[-1] == len(vocab),
             f"bundle {path}: decoder emits {dec.outputs['logits'].shape[-1]} logits for {len(vocab)} words")
    return Bundle(path, manifest, vocab, enc, dec)
