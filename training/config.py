"""Model and training configuration. Every default has a one-line reason. Plain data: no side effects."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

FORMAT_VERSION = 1  # checkpoint layout version; convert refuses any other


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "mobilenet_v2"  # the design card's default; mobilenet_v1 / mobilenet_v3_small selectable
    alpha: float = 1.0  # width multiplier; 1.0 matches the real ImageNet weights we can import
    image_size: int = 224  # pixels; MobileNet's native size, gives a 7x7 grid
    geometry: str = "auto"  # squash | center-crop | auto: squash when all training photos are square, else center-crop
    classes: int = -1  # ImageNet probabilities the encoder gives; -1 = 1000 with ImageNet classifier weights, else 0
    feature_dim: int = 256  # projected feature width D: the decoder reads 49 x D per step
    attention_dim: int = 256  # Bahdanau attention width A (keys are 49 x A, precomputed per image)
    embed_dim: int = 256  # word embedding width E
    hidden_dim: int = 256  # recurrent state width H; a step runs ~10x per caption: 256 keeps it cheap (512: no better)
    cell: str = "lstm"  # lstm | gru, a one-step cell: TFLite int8 cannot calibrate RNN while-loops
    dropout: float = 0.5  # heavy: 850 images overfit quickly
    max_len: int = 20  # caption words, excluding <start>/<end>; Flickr8k captions rarely exceed it
    vocab_size: int = 0  # filled in from the vocabulary

    @property
    def grid(self) -> int:
        return self.image_size // 32  # MobileNets downsample by 32

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.cell == "lstm" else ("h",)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = 64  # captions per step; small data, CPU-friendly
    lr: float = 2e-3  # Adam peak learning rate
    lr_final_fraction: float = 0.05  # cosine decay to 5% of peak by the last epoch
    clip_norm: float = 5.0  # global gradient norm clip, usual for recurrent decoders
    attention_penalty: float = 1.0  # lambda of the doubly stochastic attention term (paper: 1)
    label_smoothing: float = 0.1  # soft targets: a little better BLEU on tiny data
    min_count: int = 3  # words seen fewer times become <unk>
    val_fraction: float = 0.1  # share of images held out for validation (split by image)
    seed: int = 0  # split and initialisation seed
    patience: int = 6  # epochs without a better val BLEU-4 before stopping
    hflip: bool = True  # also train on mirrored images (captions get left<->right swapped)
    max_minutes: float = 0.0  # wall-clock budget for the epochs; 0 = none
    eval_images: int = 200  # val images scored per epoch for early stopping (greedy)
    encoder_weights: str = "imagenet"  # none | imagenet | PATH (.h5 or a quantised .tflite classifier)
    fine_tune_encoder: bool = False  # train the backbone too: images go through it every step (GPU, or tiny images)
    distribute: str = "none"  # none | mirrored (local GPUs) | multiworker (several machines, TF_CONFIG)
    jit_compile: bool = True  # XLA for the training step: fuses the unrolled decoder's small ops
    scst_epochs: int = 0  # self-critical epochs after cross-entropy (CIDEr-D reward, greedy baseline); 0 = none
    scst_lr: float = 5e-5  # Adam rate for self-critical training (Rennie et al. 2017)
    scst_samples: int = 5  # captions sampled per image for the reward
    scst_batch: int = 32  # images per self-critical step
    scst_baseline: str = "mean"  # mean: a sample's reward minus the mean of the others'; greedy: Rennie et al.'s


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, d: dict):
    """Build a config, rejecting unknown keys by name."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(sorted(unknown))}")
    return cls(**d)
