"""Checkpoint folders: config + vocabulary + weights + metrics, so a checkpoint is self-describing.

config.json        format version, model/train config, data description, epoch
vocab.json         the vocabulary (device.vocab.Vocabulary)
encoder.weights.h5 backbone + head (best epoch)
decoder.weights.h5 decoder step (best epoch)
metrics.json       validation metrics of the best epoch
history.json       per-epoch loss and val BLEU-4
state/             latest optimizer + weights for --resume
"""

from __future__ import annotations

import json
from pathlib import Path

from device import __version__
from .data_errors import DataError
from device.vocab import Vocabulary

from .config import FORMAT_VERSION, ModelConfig, TrainConfig, from_dict, to_dict
from .model import build_decoder_step, build_encoder


def save_config(out: Path, mcfg: ModelConfig, tcfg: TrainConfig, extra: dict) -> None:
    meta = {
        "format_version": FORMAT_VERSION,
        "seesay_version": __version__,
        "model": to_dict(mcfg),
        "train": to_dict(tcfg),
        **extra,
    }
    (out / "config.json").write_text(json.dumps(meta, indent=2))


def read_meta(ckpt: str | Path) -> dict:
    ckpt = Path(ckpt)
    cfg_path = ckpt / "config.json"
    if not cfg_path.is_file():
        raise DataError(f"{ckpt}: not a seesay checkpoint (no config.json); train one with `python -m training train`")
    meta = json.loads(cfg_path.read_text())
    # checkpoints from before these fields: centre-cropped photos, no class head
    meta.get("model", {}).setdefault("geometry", "center-crop")
    meta.get("model", {}).setdefault("classes", 0)
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{ckpt}: checkpoint format {meta.get('format_version')} from seesay "
            f"{meta.get('seesay_version', '?')}; this version reads format {FORMAT_VERSION}. "
            "Retrain, or convert with the seesay version that wrote it."
        )
    for f in ("vocab.json", "encoder.weights.h5", "decoder.weights.h5"):
        if not (ckpt / f).is_file():
            raise DataError(
                f"{ckpt}: {f} is missing; the checkpoint is incomplete (training still running or interrupted?)"
            )
    return meta


def load_checkpoint(ckpt: str | Path):
    """-> (model_config, vocab, encoder, decoder_step, meta), weights of the best epoch."""
    ckpt = Path(ckpt)
    meta = read_meta(ckpt)
    mcfg = from_dict(ModelConfig, meta["model"])
    vocab = Vocabulary.load(ckpt / "vocab.json")
    encoder, _, _ = build_encoder(mcfg, "none")
    decoder = build_decoder_step(mcfg)
    encoder.load_weights(str(ckpt / "encoder.weights.h5"))
    decoder.load_weights(str(ckpt / "decoder.weights.h5"))
    return mcfg, vocab, encoder, decoder, meta
