"""Caption datasets in the formats people have, a seeded split, and a load summary.

Every loader returns a list of Sample; problems (missing image, unreadable JPEG, empty caption) are
reported by file name, counted in the LoadReport, and skipped: never a crash halfway through.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .data_errors import DataError

log = logging.getLogger("seesay.data")


@dataclass(frozen=True)
class Sample:
    image: Path  # image file
    captions: tuple[str, ...]  # raw reference captions


@dataclass
class LoadReport:
    images: int = 0
    captions: int = 0
    missing_images: list[str] = field(default_factory=list)
    unreadable_images: list[str] = field(default_factory=list)
    empty_captions: int = 0

    def summary(self) -> str:
        s = f"{self.images} images, {self.captions} captions"
        skipped = []
        if self.missing_images:
            skipped.append(f"{len(self.missing_images)} missing images (e.g. {self.missing_images[0]})")
        if self.unreadable_images:
            skipped.append(f"{len(self.unreadable_images)} unreadable images (e.g. {self.unreadable_images[0]})")
        if self.empty_captions:
            skipped.append(f"{self.empty_captions} empty captions")
        return s + ("; skipped " + ", ".join(skipped) if skipped else "")


def _finish(pairs: "OrderedDict[str, list[str]]", images_dir: Path, report: LoadReport, verify: bool) -> list[Sample]:
    out = []
    for name, caps in pairs.items():
        kept = [c.strip() for c in caps if c and c.strip()]
        report.empty_captions += len(caps) - len(kept)
        path = images_dir / name
        if not path.is_file():
            report.missing_images.append(str(path))
            log.warning("missing image %s: skipped", path)
            continue
        if verify:
            try:
                with Image.open(path) as im:
                    im.verify()  # checks the file structure without a full decode
            except Exception as e:  # PIL raises many types for broken files
                report.unreadable_images.append(str(path))
                log.warning("unreadable image %s (%s): skipped", path, e)
                continue
        if not kept:
            continue
        out.append(Sample(path, tuple(kept)))
        report.images += 1
        report.captions += len(kept)
    return out


def _default_images_dir(ann: Path) -> Path:
    for d in ("images", "Images", "Flicker8k_Dataset", "Flickr8k_Dataset"):
        if (ann.parent / d).is_dir():
            return ann.parent / d
    return ann.parent


def load_flickr_csv(path: Path, images_dir: Path | None, report: LoadReport, verify=True) -> list[Sample]:
    """Kaggle Flickr8k layout: header `image,caption`, one row per caption."""
    pairs: OrderedDict[str, list[str]] = OrderedDict()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected a CSV header 'image,caption', got {reader.fieldnames}")
        for row in reader:
            pairs.setdefault(row["image"].strip(), []).append(row["caption"] or "")
    return _finish(pairs, images_dir or _default_images_dir(path), report, verify)


def load_flickr_token(path: Path, images_dir: Path | None, report: LoadReport, verify=True) -> list[Sample]:
    """Original Flickr8k.token.txt: `IMAGE.jpg#N<TAB>caption`."""
    pairs: OrderedDict[str, list[str]] = OrderedDict()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(f"{path}:{n}: expected 'IMAGE#N<TAB>caption', got {line[:60]!r}")
        key, cap = line.split("\t", 1)
        pairs.setdefault(key.split("#")[0].strip(), []).append(cap)
    return _finish(pairs, images_dir or _default_images_dir(path), report, verify)


def load_karpathy(path: Path, images_dir: Path | None, report: LoadReport, verify=True) -> list[Sample]:
    """Karpathy split JSON (dataset_flickr8k.json / dataset_coco.json): images[].sentences[].raw."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    pairs: OrderedDict[str, list[str]] = OrderedDict()
    for im in data["images"]:
        name = str(Path(im.get("filepath", "")) / im["filename"])
        pairs[name] = [s.get("raw", " ".join(s.get("tokens", []))) for s in im.get("sentences", [])]
    return _finish(pairs, images_dir or _default_images_dir(path), report, verify)


def load_coco(path: Path, images_dir: Path | None, report: LoadReport, verify=True) -> list[Sample]:
    """COCO captions_*.json: images[{id,file_name}], annotations[{image_id,caption}]."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    names = {im["id"]: im["file_name"] for im in data["images"]}
    pairs: OrderedDict[str, list[str]] = OrderedDict((names[i], []) for i in sorted(names))
    for a in data["annotations"]:
        if a["image_id"] in names:
            pairs[names[a["image_id"]]].append(a.get("caption", ""))
    if images_dir is None:  # COCO keeps images in e.g. train2014/ beside annotations/
        stem = Path(path).stem.split("_")[-1]
        cand = Path(path).parent.parent / stem
        images_dir = cand if cand.is_dir() else _default_images_dir(path)
    return _finish(pairs, images_dir, report, verify)


def load_dataset(
    path: str | Path, images_dir: str | Path | None = None, verify: bool = True
) -> tuple[list[Sample], LoadReport]:
    """Detect the format of an annotation file and load it."""
    path = Path(path)
    if path.is_dir():  # a folder: look for a known annotation file inside
        for name in ("captions.csv", "Flickr8k.token.txt", "dataset_flickr8k.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise DataError(
                f"{path}: no captions.csv, Flickr8k.token.txt or dataset_*.json inside; "
                "pass the annotation file itself"
            )
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    idir = Path(images_dir) if images_dir else None
    report = LoadReport()
    if path.suffix == ".csv":
        samples = load_flickr_csv(path, idir, report, verify)
    elif path.suffix == ".txt":
        samples = load_flickr_token(path, idir, report, verify)
    elif path.suffix == ".json":
        with open(path, encoding="utf-8") as f:
            head = f.read(1 << 16)
        # COCO files carry an "annotations" list near the top level; Karpathy's do not
        loader = (
            load_coco
            if '"annotations"' in head or '"annotations"' in path.read_text(encoding="utf-8")
            else load_karpathy
        )
        samples = loader(path, idir, report, verify)
    else:
        raise DataError(f"{path}: unknown caption format (expected .csv, .txt or .json)")
    if not samples:
        raise DataError(f"{path}: no usable image/caption pairs ({report.summary()})")
    log.info("loaded %s: %s", path, report.summary())
    return samples, report


def split(samples: list[Sample], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """Seeded split by image: the same files and seed give the same split on any machine."""
    order = sorted(samples, key=lambda s: s.image.name)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * val_fraction)) if len(order) > 1 else 0
    return order[n_val:], order[:n_val]


def read_split(path: str | Path) -> list[str]:
    """A split list: one image file name per line (Flickr8k's Flickr_8k.trainImages.txt layout)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: split file lists no images")
    return names


def find_splits(data: str | Path) -> dict[str, list[Path]] | None:
    """The splits/ folder next to an annotation file: train.txt (+ none.txt, photos in no split, also
    trained on) and dev.txt (or val.txt) for validation. None when there is no such folder."""
    data = Path(data)
    d = (data if data.is_dir() else data.parent) / "splits"
    if not d.is_dir():
        return None
    val = next((d / n for n in ("dev.txt", "val.txt") if (d / n).is_file()), None)
    if not (d / "train.txt").is_file() or val is None:
        raise DataError(f"{d}: a splits folder needs train.txt and dev.txt (or val.txt)")
    train = [d / "train.txt"] + ([d / "none.txt"] if (d / "none.txt").is_file() else [])
    return {"train": train, "val": [val]}


def split_by_lists(
    samples: list[Sample], train_files: list[Path], val_files: list[Path]
) -> tuple[list[Sample], list[Sample]]:
    """Split by named lists; an image listed in both is refused, one in neither is left out."""
    train_names = {n for f in train_files for n in read_split(f)}
    val_names = {n for f in val_files for n in read_split(f)}
    both = train_names & val_names
    if both:
        raise DataError(
            f"{len(both)} images are in both the train and the val split (e.g. {sorted(both)[0]}); fix the split files"
        )
    tr = [s for s in samples if s.image.name in train_names]
    va = [s for s in samples if s.image.name in val_names]
    if not tr or not va:
        raise DataError(
            f"the split files match {len(tr)} train and {len(va)} val images of the data; "
            "they must name the data's image files"
        )
    return sorted(tr, key=lambda s: s.image.name), sorted(va, key=lambda s: s.image.name)


def split_as_trained(samples: list[Sample], data_meta: dict) -> tuple[list[Sample], list[Sample]]:
    """The split a checkpoint was trained with (its config.json "data": split files, or val_fraction + seed)."""
    if data_meta.get("train_split"):
        return split_by_lists(
            samples, [Path(p) for p in data_meta["train_split"]], [Path(p) for p in data_meta["val_split"]]
        )
    return split(samples, data_meta["val_fraction"], data_meta["split_seed"])


def all_square(samples: list[Sample], limit: int = 200) -> bool:
    """True when the (first `limit`) photos are all square: data already squashed to the model's shape."""
    for s in samples[:limit]:
        with Image.open(s.image) as im:
            if im.size[0] != im.size[1]:
                return False
    return True
