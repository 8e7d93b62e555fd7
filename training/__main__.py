"""python -m training {train,evaluate,synth,check-weights} --help"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the CLI

from device.errors import OneLineParser, run_cli  # noqa: E402

from .config import ModelConfig, TrainConfig  # noqa: E402


def _add_dataclass_args(p: argparse.ArgumentParser, cls, skip=()) -> None:
    """One --flag per config field, its default and reason from the dataclass."""
    import inspect

    src = inspect.getsource(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        reason = next(
            (
                line.split("#", 1)[1].strip().replace("%", "%%")
                for line in src.splitlines()
                if line.strip().startswith(f.name + ":") and "#" in line
            ),
            "",
        )
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=f"{reason} (default: %(default)s)"
            )
        else:
            typ = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            p.add_argument(flag, type=typ, default=f.default, help=f"{reason} (default: %(default)s)")


def _pick(ns, cls):
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls) if hasattr(ns, f.name)})


def main(argv=None) -> int:
    ap = OneLineParser(prog="python -m training", description="Train and evaluate the seesay captioner.")
    ap.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's own log lines and debug logging")
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser(
        "train",
        help="train a captioner; writes a checkpoint folder",
        description="Train on captioned photos. DATA is captions.csv (Kaggle Flickr8k), "
        "Flickr8k.token.txt, a Karpathy dataset_*.json or a COCO captions_*.json.",
    )
    t.add_argument("data", help="annotation file (or a folder holding captions.csv)")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--images", help="image folder (default: images/ beside the annotation file)")
    t.add_argument(
        "--cache",
        default=os.path.expanduser("~/.cache/seesay/features"),
        help="feature cache folder (default: %(default)s)",
    )
    t.add_argument("--resume", action="store_true", help="continue from OUT/state (weights, optimizer, epoch)")
    t.add_argument(
        "--train-split",
        nargs="+",
        metavar="FILE",
        help="image lists to train on, one file name a line "
        "(default: splits/train.txt + splits/none.txt beside DATA when that folder exists, else a seeded split)",
    )
    t.add_argument(
        "--extra-train",
        nargs="+",
        metavar="DATA",
        help="more annotation files whose photos are all "
        "trained on (e.g. COCO scenes beside Flickr8k); never validated on",
    )
    t.add_argument(
        "--val-split",
        nargs="+",
        metavar="FILE",
        help="image lists for early stopping and every reported " "figure (default: splits/dev.txt beside DATA)",
    )
    _add_dataclass_args(t, ModelConfig, skip=("vocab_size",))
    _add_dataclass_args(t, TrainConfig)

    e = sub.add_parser(
        "evaluate",
        help="BLEU-1..4 and CIDEr, greedy and beam, on the checkpoint's val split",
        description="Scores a checkpoint on its own seeded val split (or --split all), greedy and beam, "
        "writes per-image JSONL, attention figures and the training curve.",
    )
    e.add_argument("checkpoint")
    e.add_argument("--data", help="annotation file (default: the one the checkpoint was trained on)")
    e.add_argument("--images", help="image folder")
    e.add_argument(
        "--split", choices=["val", "all"], default="val", help="which images to score (default: %(default)s)"
    )
    e.add_argument("--beam", type=int, nargs="+", default=[1, 3], help="beam widths; 1 = greedy (default: 1 3)")
    e.add_argument("--out", help="folder for results (default: CHECKPOINT/eval)")
    e.add_argument("--figures", type=int, default=3, help="attention figures to draw (default: %(default)s)")

    s = sub.add_parser("synth", help="write synthetic captioned scenes (images/ + captions.csv)")
    s.add_argument("--out", required=True, help="folder to write")
    s.add_argument("-n", type=int, default=2000, help="number of scenes (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")

    c = sub.add_parser(
        "check-weights", help="compare a Keras backbone with imported weights against its .tflite classifier"
    )
    c.add_argument(
        "tflite",
        help="quantised TFLite ImageNet classifier, e.g. ../shared/weights/coral/tf2_mobilenet_v2_1.0_224_ptq.tflite",
    )
    c.add_argument("images", help="folder of JPEGs")
    c.add_argument("-n", type=int, default=200, help="images to compare (default: %(default)s)")

    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from .quiet_tf import import_tensorflow

    import_tensorflow(args.verbose)
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    if args.cmd == "train":
        from .train import train

        m = train(
            args.data,
            args.out,
            _pick(args, ModelConfig),
            _pick(args, TrainConfig),
            args.images,
            args.cache,
            args.resume,
            args.train_split,
            args.val_split,
            args.extra_train,
        )
        print(json.dumps(m, indent=2))
    elif args.cmd == "evaluate":
        from .evaluate_checkpoint import evaluate_checkpoint

        print(json.dumps(evaluate_checkpoint(args), indent=2))
    elif args.cmd == "synth":
        from tqdm import tqdm
        from .synthetic import write_scenes

        print(write_scenes(args.out, args.n, args.seed, progress=lambda r: tqdm(r, desc="scenes", unit="img")))
    elif args.cmd == "check-weights":
        from .weights_check import check

        print(json.dumps(check(args.tflite, args.images, args.n), indent=2))


if __name__ == "__main__":
    sys.exit(main())
