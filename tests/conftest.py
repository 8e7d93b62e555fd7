"""Shared fixtures: a tiny synthetic dataset, a tiny trained checkpoint and its int8 bundle, made
once per session (real training, real TFLite conversion; about a minute on 2 cores)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = ROOT.parent / "shared"
FLICKR = SHARED / "data" / "flickr8k"
WEIGHTS = SHARED / "weights"


def need_flickr():
    if not (FLICKR / "captions.csv").is_file():
        pytest.skip(f"real Flickr8k data not present at {FLICKR} (outside the seesay workplace)")
    return FLICKR


def need_weights(name: str) -> Path:
    p = WEIGHTS / name
    if not p.is_file():
        pytest.skip(f"ImageNet weights {p} not present (outside the seesay workplace)")
    return p


TINY_MODEL = dict(
    backbone="mobilenet_v2",
    alpha=0.35,
    image_size=96,
    feature_dim=32,
    attention_dim=32,
    embed_dim=32,
    hidden_dim=64,
    max_len=16,
)


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> Path:
    from training.synthetic import write_scenes

    d = tmp_path_factory.mktemp("scenes")
    return write_scenes(d, 60, seed=3)


@pytest.fixture
def scene_dir(scenes) -> Path:
    """The synthetic scenes' photos, as a file camera's folder."""
    return scenes.parent / "images"


@pytest.fixture(scope="session")
def checkpoint(scenes, tmp_path_factory) -> Path:
    from training.config import ModelConfig, TrainConfig
    from training.train import train

    out = tmp_path_factory.mktemp("ckpt")
    train(
        str(scenes),
        out,
        ModelConfig(**TINY_MODEL),
        TrainConfig(
            epochs=2, batch_size=32, encoder_weights="none", min_count=1, val_fraction=0.2, eval_images=8, patience=5
        ),
        cache_dir=None,
    )
    return out


@pytest.fixture(scope="session")
def bundle(checkpoint, tmp_path_factory) -> Path:
    from convert.build import build

    out = tmp_path_factory.mktemp("bundles") / "int8"
    # a 2-epoch model is no captioner: the accuracy check runs, but its threshold is not the point here
    build(str(checkpoint), str(out), calibration="synthetic", calibration_images=12, check_limit=6, threshold=100.0)
    return out


@pytest.fixture
def black_jpeg(tmp_path) -> Path:
    from PIL import Image

    p = tmp_path / "black.jpg"
    Image.new("RGB", (320, 240), (0, 0, 0)).save(p)
    return p


@pytest.fixture
def corrupt_jpeg(tmp_path, scenes) -> Path:
    src = next((scenes.parent / "images").glob("*.jpg")).read_bytes()
    p = tmp_path / "corrupt.jpg"
    p.write_bytes(src[: len(src) // 3])
    return p
