"""The paper's signature picture: the image, then one tile per word with that word's attention map
laid over it. Pillow only, so the device can draw it too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def attention_tiles(
    pixels: np.ndarray,
    words: list[str],
    attention: np.ndarray,
    tile: int = 160,
    per_row: int = 5,
    title: str | None = None,
) -> Image.Image:
    """pixels uint8 [S,S,3]; attention [len(words), P] with P a square grid (49 = 7x7)."""
    g = int(round(np.sqrt(attention.shape[-1]))) if len(attention) else 7
    base = Image.fromarray(pixels).resize((tile, tile), Image.BILINEAR)
    tiles = [(base, "(image)")]
    for w, a in zip(words, attention):
        m = a.reshape(g, g)
        m = (m - m.min()) / (m.max() - m.min() + 1e-8)  # each word's map scaled to its own peak
        mask = Image.fromarray((m * 255).astype(np.uint8)).resize((tile, tile), Image.BICUBIC)
        dark = Image.blend(base, Image.new("RGB", base.size), 0.75)
        tiles.append((Image.composite(base, dark, mask), w))
    rows = (len(tiles) + per_row - 1) // per_row
    head = 22 if title else 0
    label = 18
    fig = Image.new("RGB", (per_row * tile, head + rows * (tile + label)), "white")
    d = ImageDraw.Draw(fig)
    font = ImageFont.load_default()
    if title:
        d.text((4, 4), title[:120], fill="black", font=font)
    for i, (im, w) in enumerate(tiles):
        x, y = (i % per_row) * tile, head + (i // per_row) * (tile + label)
        fig.paste(im, (x, y))
        d.text((x + 4, y + tile + 2), w, fill="black", font=font)
    return fig


def save_attention_figure(path: str | Path, pixels, words, attention, title=None) -> Path:
    """Write the image with each word's attention over it (PNG/JPEG by suffix); -> the path."""
    path = Path(path)
    attention_tiles(pixels, words, np.asarray(attention), title=title).save(path)
    return path
