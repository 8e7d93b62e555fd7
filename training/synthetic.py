"""Synthetic captioned scenes: coloured shapes in spatial relations on varied backgrounds, each with
several differently worded captions. Written to a folder in the Kaggle Flickr8k layout
(images/*.jpg + captions.csv), so it goes through exactly the loaders real data goes through.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

COLOURS = {
    "red": (210, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 210),
    "yellow": (235, 210, 40),
    "purple": (140, 50, 170),
    "orange": (245, 140, 30),
    "white": (250, 250, 250),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "diamond")
SIZES = {"small": 0.11, "big": 0.2}  # object radius as a fraction of the image side
COUNTS = {1: "a", 2: "two", 3: "three"}
BACKGROUNDS = {"grey": (128, 128, 128), "sand": (194, 178, 128), "sky": (150, 190, 230), "grass": (110, 150, 90)}
RELATIONS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}


def _plural(shape: str, n: int) -> str:
    return shape if n == 1 else shape + "s"


def _draw_shape(d: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill) -> None:
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    else:  # diamond
        d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)


def _background(rng: random.Random, size: int) -> tuple[Image.Image, str, str]:
    name = rng.choice(list(BACKGROUNDS))
    base = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in BACKGROUNDS[name])
    img = Image.new("RGB", (size, size), base)
    style = rng.choice(["plain", "striped", "noisy"])
    d = ImageDraw.Draw(img)
    if style == "striped":
        darker = tuple(int(c * 0.8) for c in base)
        step = rng.randint(10, 20)
        for x in range(0, size * 2, step * 2):
            d.polygon([(x, 0), (x + step, 0), (x + step - size, size), (x - size, size)], fill=darker)
    elif style == "noisy":
        noise = Image.effect_noise((size, size), rng.uniform(20, 40)).convert("RGB")
        img = Image.blend(img, noise, 0.25)
    return img, name, style


def _group(rng: random.Random, exclude: tuple[str, str] | None = None) -> dict:
    while True:
        g = {
            "colour": rng.choice(list(COLOURS)),
            "shape": rng.choice(SHAPES),
            "size": rng.choice(list(SIZES)),
            "count": rng.choice([1, 1, 1, 2, 3]),
        }
        if exclude is None or (g["colour"], g["shape"]) != exclude:
            return g


def _phrase(g: dict, with_size: bool) -> str:
    words = [COUNTS[g["count"]]] + ([g["size"]] if with_size else []) + [g["colour"], _plural(g["shape"], g["count"])]
    return " ".join(words)


def _place(d, g: dict, box: tuple[float, float, float, float], size: int, rng: random.Random) -> None:
    """Draw g's objects side by side inside box (fractions x0, y0, x1, y1)."""
    r = SIZES[g["size"]] * size * (0.7 if g["count"] > 1 else 1.0) * rng.uniform(0.9, 1.1)
    x0, y0, x1, y1 = (v * size for v in box)
    n = g["count"]
    r = min(r, 0.42 * (x1 - x0) / n, 0.42 * (y1 - y0))  # keep objects apart inside their box
    cy = (y0 + y1) / 2 + rng.uniform(-0.03, 0.03) * size
    for i in range(n):
        cx = x0 + (x1 - x0) * (i + 0.5) / n + rng.uniform(-0.02, 0.02) * size
        _draw_shape(d, g["shape"], cx, cy, r, COLOURS[g["colour"]])


def make_scene(rng: random.Random, size: int = 224) -> tuple[Image.Image, list[str]]:
    """One image and its five captions."""
    img, bg, style = _background(rng, size)
    d = ImageDraw.Draw(img)
    a = _group(rng)
    bg_words = f"on a {style + ' ' if style != 'plain' else ''}{bg} background"
    if rng.random() < 0.35:  # a single group, centred
        _place(d, a, (0.2, 0.25, 0.8, 0.75), size, rng)
        pa = _phrase(a, True)
        caps = [
            pa,
            f"{pa} {bg_words}",
            f"there {'is' if a['count'] == 1 else 'are'} {_phrase(a, False)} in the middle",
            f"{_phrase(a, False)} {bg_words}",
            f"{pa} in the centre of the picture",
        ]
    else:
        b = _group(rng, exclude=(a["colour"], a["shape"]))
        rel = rng.choice(list(RELATIONS))
        boxes = {
            "left": ((0.0, 0.25, 0.5, 0.75), (0.5, 0.25, 1.0, 0.75)),
            "right": ((0.5, 0.25, 1.0, 0.75), (0.0, 0.25, 0.5, 0.75)),
            "above": ((0.15, 0.0, 0.85, 0.5), (0.15, 0.5, 0.85, 1.0)),
            "below": ((0.15, 0.5, 0.85, 1.0), (0.15, 0.0, 0.85, 0.5)),
        }[rel]
        _place(d, a, boxes[0], size, rng)
        _place(d, b, boxes[1], size, rng)
        inverse = {"left": "right", "right": "left", "above": "below", "below": "above"}[rel]
        pa, pb = _phrase(a, True), _phrase(b, True)
        caps = [
            f"{pa} {RELATIONS[rel]} {pb}",
            f"{pb} {RELATIONS[inverse]} {pa}",
            f"{_phrase(a, False)} {RELATIONS[rel]} {_phrase(b, False)}",
            f"{_phrase(a, False)} and {_phrase(b, False)} {bg_words}",
            f"{pa} is {RELATIONS[rel]} {pb}",
        ]
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    return img, caps


def write_scenes(out: str | Path, n: int, seed: int = 0, size: int = 224, progress=None) -> Path:
    """Write n scenes to out/images/*.jpg and out/captions.csv; returns the CSV path."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in (progress(range(n)) if progress else range(n)):
        img, caps = make_scene(rng, size)
        name = f"scene_{seed}_{i:05d}.jpg"
        img.save(out / "images" / name, quality=92)
        rows += [(name, c) for c in caps]
    csv_path = out / "captions.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return csv_path
