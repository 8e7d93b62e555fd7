"""A seeded test set for reading: signs, labels and pages rendered with Debian's fonts over real
photos, each with its exact text. Half are clean (frontal, dark on light, sharp, large); half are
hard (tilted in perspective, low contrast, blurred, noisy, smaller).

    python -m evaluation text-scenes OUT --backgrounds PHOTOS/ -n 200

writes OUT/NNNN.jpg and OUT/truth.json {file: {"kind", "difficulty", "lines": [...]}}."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/noto",
)
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansCondensed.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationMono-Regular.ttf",
    "LiberationSansNarrow-Regular.ttf",
    "NotoSans-Regular.ttf",
    "NotoSans-Bold.ttf",
    "NotoSerif-Regular.ttf",
)
FRAME = (640, 480)  # the camera frame the reader gets, pixels (the daemon captures 1280x960; half of it)

SIGN_WORDS = (
    "EXIT",
    "ENTRANCE",
    "PLATFORM",
    "TOILETS",
    "PHARMACY",
    "BUS",
    "STOP",
    "OPEN",
    "CLOSED",
    "PUSH",
    "PULL",
    "LIFT",
    "STAIRS",
    "CAFE",
    "POST",
    "OFFICE",
    "LIBRARY",
    "STATION",
    "NO",
    "SMOKING",
    "PARKING",
    "RECEPTION",
    "ROOM",
    "KEEP",
    "LEFT",
    "RIGHT",
    "WAY",
    "OUT",
    "DANGER",
    "WET",
    "FLOOR",
    "TICKETS",
)
LABEL_WORDS = (
    "organic",
    "milk",
    "whole",
    "wheat",
    "bread",
    "tomato",
    "soup",
    "rice",
    "pasta",
    "coffee",
    "tea",
    "orange",
    "juice",
    "sugar",
    "salt",
    "olive",
    "oil",
    "best",
    "before",
    "keep",
    "refrigerated",
    "ingredients",
    "water",
    "contains",
    "nuts",
    "serves",
    "net",
    "weight",
    "fresh",
    "green",
    "beans",
    "apple",
    "honey",
    "butter",
    "cheese",
    "vanilla",
    "yogurt",
    "frozen",
    "peas",
    "dark",
    "chocolate",
)
PAGE_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "for",
    "your",
    "appointment",
    "please",
    "bring",
    "this",
    "letter",
    "with",
    "you",
    "on",
    "date",
    "at",
    "clinic",
    "dear",
    "customer",
    "account",
    "payment",
    "due",
    "thank",
    "contact",
    "us",
    "if",
    "have",
    "any",
    "questions",
    "about",
    "service",
    "will",
    "be",
    "from",
    "next",
    "month",
    "meeting",
    "room",
    "floor",
    "call",
    "number",
    "office",
    "hours",
    "monday",
    "friday",
    "morning",
    "street",
    "new",
    "address",
    "information",
    "important",
    "read",
)


def fonts() -> list[Path]:
    found = [Path(d) / f for f in FONTS for d in FONT_DIRS if (Path(d) / f).is_file()]
    if not found:
        raise FileNotFoundError("no fonts: sudo apt install fonts-dejavu-core fonts-liberation fonts-noto-core")
    return found


def _number(rng: random.Random) -> str:
    return rng.choice(
        [str(rng.randint(1, 99)), f"{rng.randint(1, 9)}.{rng.randint(10, 99)}", str(rng.randint(100, 999))]
    )


def text_for(kind: str, rng: random.Random) -> list[str]:
    if kind == "sign":
        lines = [" ".join(rng.choice(SIGN_WORDS) for _ in range(rng.randint(1, 2))) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.4:
            lines[-1] += " " + _number(rng)
        return lines
    if kind == "label":
        words = [[rng.choice(LABEL_WORDS) for _ in range(rng.randint(1, 3))] for _ in range(rng.randint(2, 4))]
        lines = [" ".join(w) for w in words]
        lines[0] = lines[0].title()
        if rng.random() < 0.5:
            lines.append(f"{_number(rng)} g")
        return lines
    lines = []
    for _ in range(rng.randint(5, 8)):
        ws = [rng.choice(PAGE_WORDS) for _ in range(rng.randint(4, 7))]
        ws[0] = ws[0].capitalize()
        lines.append(" ".join(ws))
    return lines


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """PIL's PERSPECTIVE data: maps output (dst) points back to input (src) points."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        b.append(u)
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.append(v)
    return list(np.linalg.solve(np.asarray(a, float), np.asarray(b, float)))


def render(kind: str, hard: bool, background: Image.Image, rng: random.Random, font_files: list[Path]):
    lines = text_for(kind, rng)
    w, h = FRAME
    bg = background.convert("RGB").resize(FRAME, Image.BILINEAR)
    size = {"sign": (44, 72), "label": (26, 40), "page": (18, 26)}[kind]
    px = rng.randint(*size)
    if hard:
        px = max(12, int(px * rng.uniform(0.55, 0.85)))
    font = ImageFont.truetype(str(rng.choice(font_files)), px)
    gap = int(px * 0.35)
    widths = [int(font.getlength(t)) for t in lines]
    pw = min(w - 20, max(widths) + 2 * px)
    if max(widths) > pw - px:  # too wide for the frame: a smaller font, same text
        px = int(px * (pw - px) / max(widths))
        font = ImageFont.truetype(font.path, px)
        widths = [int(font.getlength(t)) for t in lines]
        gap = int(px * 0.35)
    ph = len(lines) * (px + gap) + px
    ink, paper = (rng.randint(0, 40),) * 3, (rng.randint(225, 255), rng.randint(225, 255), rng.randint(215, 250))
    if kind == "sign" and rng.random() < 0.5:
        ink, paper = paper, (rng.randint(0, 30), rng.randint(40, 110), rng.randint(0, 60))  # light on green/blue
    if hard:  # low contrast: ink and paper pulled towards each other
        mix = rng.uniform(0.25, 0.45)
        ink, paper = (
            tuple(int(i + (p - i) * mix) for i, p in zip(ink, paper)),
            tuple(int(p - (p - i) * mix * 0.5) for i, p in zip(ink, paper)),
        )
    panel = Image.new("RGB", (pw, ph), paper)
    d = ImageDraw.Draw(panel)
    y = px // 2
    for t, tw in zip(lines, widths):
        x = (pw - tw) // 2 if kind == "sign" else px
        d.text((x, y), t, font=font, fill=ink)
        y += px + gap
    x0, y0 = rng.randint(5, max(6, w - pw - 5)), rng.randint(5, max(6, h - ph - 5))
    mask = Image.new("L", (pw, ph), 255)
    if hard:  # tilted: the panel's corners moved by up to 12% of its size
        j = 0.12
        dst = [
            (rng.uniform(0, j) * pw, rng.uniform(0, j) * ph),
            (pw - rng.uniform(0, j) * pw, rng.uniform(0, j) * ph),
            (pw - rng.uniform(0, j) * pw, ph - rng.uniform(0, j) * ph),
            (rng.uniform(0, j) * pw, ph - rng.uniform(0, j) * ph),
        ]
        c = _perspective_coeffs([(0, 0), (pw, 0), (pw, ph), (0, ph)], dst)
        panel = panel.transform((pw, ph), Image.PERSPECTIVE, c, Image.BICUBIC)
        mask = mask.transform((pw, ph), Image.PERSPECTIVE, c, Image.BICUBIC)
    bg.paste(panel, (x0, y0), mask)
    if hard:
        bg = bg.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4)))
        arr = np.asarray(bg, np.float32) + np.random.default_rng(rng.randrange(2**32)).normal(
            0, rng.uniform(6, 14), (h, w, 3)
        )
        bg = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return bg, lines


def make_text_scenes(out: str | Path, backgrounds: str | Path, n: int = 200, seed: int = 0) -> dict:
    out, rng = Path(out), random.Random(seed)
    photos = sorted(p for p in Path(backgrounds).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError(f"no background photos in {backgrounds}")
    font_files = fonts()
    out.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n):
        kind, hard = ("sign", "label", "page")[i % 3], i % 2 == 1
        with Image.open(rng.choice(photos)) as bg:
            img, lines = render(kind, hard, bg, rng, font_files)
        name = f"{i:04d}.jpg"
        img.save(out / name, quality=92)
        truth[name] = {"kind": kind, "difficulty": "hard" if hard else "clean", "lines": lines}
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth
