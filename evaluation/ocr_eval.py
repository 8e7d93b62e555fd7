"""Reading engines measured on a text-scenes test set (evaluation.text_scenes): character and word
accuracy by difficulty and kind, read latency as a ratio to the caption encoder measured in the
same run, memory and install size.

    python -m evaluation ocr-eval TEXT_SCENES_DIR [--engines tesseract rapidocr] [--bundle DIR]

Accuracy is case-insensitive and ignores punctuation other than a decimal point (what is heard)."""

from __future__ import annotations

import json
import re
import statistics
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from device.errors import OCRUnavailableError

ALREADY_NEEDED = {"numpy", "pillow"}  # the device has these without any reader


def words(text: str) -> list[str]:
    return [w.strip(".") for w in re.sub(r"[^0-9a-z. ]+", " ", text.lower()).split() if w.strip(".")]


def edit_distance(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def accuracy(ref: list, hyp: list) -> float:
    """1 - edit distance / reference length, at least 0: 1.0 = every unit read, in order."""
    return max(0.0, 1.0 - edit_distance(ref, hyp) / max(1, len(ref)))


def word_accuracy(lines: list[str], said: str) -> float:
    """How much of a scene's text (its truth lines) what was read gives, word for word, in order."""
    return accuracy(words(" ".join(lines)), words(said))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def install_mb(dist: str, seen: set | None = None) -> float:
    """Bytes on disk of a distribution and what it pulls in (beyond numpy and Pillow), in MB."""
    seen = set() if seen is None else seen
    key = dist.lower().replace("_", "-")
    if key in seen or key in ALREADY_NEEDED:
        return 0.0
    seen.add(key)
    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return 0.0
    total = sum((Path(d.locate_file(f)).stat().st_size for f in d.files or [] if Path(d.locate_file(f)).is_file()))
    mb = total / 1e6
    for req in d.requires or []:
        if "extra ==" in req:
            continue
        name = re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0]
        mb += install_mb(name, seen)
    return mb


ENGINE_DIST = {
    "tesseract": ["tesserocr"],
    "rapidocr": ["rapidocr-onnxruntime"],
    "ppocr-tesseract": ["tesserocr"],
}  # + the shipped detector (bundles/text-detector), added below


def evaluate_readers(
    folder: str | Path,
    engines=("ppocr-tesseract", "tesseract", "rapidocr"),
    bundle: str | None = None,
    threads: int = 2,
) -> dict:
    from device.bundle import default_bundle_dir
    from device.captioner import Captioner
    from device.ocr import load_reader
    from device.ocr.tesseract import tessdata

    folder = Path(folder)
    truth = json.loads((folder / "truth.json").read_text())
    cap = Captioner(bundle or default_bundle_dir(), threads=threads)
    px = np.full((cap.bundle.image_size,) * 2 + (3,), 128, np.uint8)
    frames = {k: np.asarray(Image.open(folder / k).convert("RGB")) for k in truth}
    report = {"images": len(truth), "engines": {}}
    for name in engines:
        before = rss_mb()
        reader = load_reader(name, threads=threads)
        loaded = rss_mb()
        rows, ms = [], []
        for k, t in truth.items():
            t0 = time.perf_counter()
            lines = reader.read(frames[k])
            ms.append((time.perf_counter() - t0) * 1e3)
            hyp = " ".join(l.text for l in lines)
            ref = " ".join(t["lines"])
            rows.append(
                {
                    "image": k,
                    "kind": t["kind"],
                    "difficulty": t["difficulty"],
                    "read": hyp,
                    "word": word_accuracy(t["lines"], hyp),
                    "char": accuracy(list(" ".join(words(ref))), list(" ".join(words(hyp)))),
                }
            )
        enc = []
        for _ in range(30):  # the encoder, interleaved with nothing else: its median in this same run
            t0 = time.perf_counter()
            cap.encode_raw(px)
            enc.append((time.perf_counter() - t0) * 1e3)
        seen: set = set()
        size = sum(install_mb(d, seen) for d in ENGINE_DIST[name])
        if name == "ppocr-tesseract":
            from device.ocr.text_detector import default_dir

            size += sum(f.stat().st_size for f in default_dir().iterdir()) / 1e6
        if "tesserocr" in ENGINE_DIST[name]:
            size += (Path(tessdata()) / "eng.traineddata").stat().st_size / 1e6
        groups = {}
        for key in ("clean", "hard", "sign", "label", "page"):
            sel = [r for r in rows if key in (r["difficulty"], r["kind"])]
            groups[key] = {
                "images": len(sel),
                "word": float(np.mean([r["word"] for r in sel])),
                "char": float(np.mean([r["char"] for r in sel])),
            }
        read_ms, enc_ms = statistics.median(ms), statistics.median(enc)
        report["engines"][name] = {
            "version": reader.version,
            "accuracy": groups,
            "read_ms_median": read_ms,
            "encoder_ms_median": enc_ms,
            "read_vs_encoder": read_ms / enc_ms,
            "rss_loaded_mb": loaded - before,
            "rss_after_mb": rss_mb() - before,
            "install_mb": size,
            "worst": sorted(rows, key=lambda r: r["word"])[:5],
        }
        reader.close()
    return report


def print_report(r: dict) -> None:
    print(f"{r['images']} text scenes; word / character accuracy")
    print("| engine | clean | hard | sign | label | page | read / encoder | RSS | install |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, e in r["engines"].items():
        a = e["accuracy"]
        cells = " | ".join(
            f"{a[k]['word']:.1%} / {a[k]['char']:.1%}" for k in ("clean", "hard", "sign", "label", "page")
        )
        print(
            f"| {name} {e['version']} | {cells} | {e['read_vs_encoder']:.1f}x ({e['read_ms_median']:.0f} / "
            f"{e['encoder_ms_median']:.2f} ms) | +{e['rss_after_mb']:.0f} MB | {e['install_mb']:.0f} MB |"
        )


def text_free(listing: Path, engine: str = "auto") -> dict:
    """The single press's text part (device.reading.short_text) on photos that hold no text: the
    share that stays silent about text, and what was said on the others (to check by eye)."""
    from device.ocr import load_configured
    from device.preprocess import load_image
    from device.reading import short_text

    paths = [listing.parent / line.strip() for line in listing.read_text().splitlines() if line.strip()]
    reader = load_configured(engine, 2)
    if reader is None:
        raise OCRUnavailableError("no reader installed: ./install.sh --ocr, or the host requirements")
    said = {}
    for p in paths:
        t = short_text(reader, np.asarray(load_image(p)))
        if t is not None:
            said[str(p.relative_to(listing.parent))] = t
    reader.close()
    return {"photos": len(paths), "silent": 1 - len(said) / len(paths), "engine": reader.name, "said": said}
