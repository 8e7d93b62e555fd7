"""`python -m training evaluate CHECKPOINT`: scores, per-image JSONL, attention figures, training curve."""

from __future__ import annotations

import json
from pathlib import Path

from device.attention_figure import save_attention_figure

from .checkpoint import load_checkpoint
from .data import load_dataset, split_as_trained
from .evaluate import caption_encoded, run_batched, score_results, write_jsonl
from .features import load_pixels
from .float_step import KerasCaptioner
from evaluation.caption_metrics import best_constant_caption, caption_metrics


def evaluate_checkpoint(args) -> dict:
    mcfg, vocab, encoder, decoder, meta = load_checkpoint(args.checkpoint)
    src = args.data or meta["data"]["source"]
    samples, _ = load_dataset(src, args.images)
    train_s, val_s = split_as_trained(samples, meta["data"])
    items = val_s if args.split == "val" else samples
    out = Path(args.out or Path(args.checkpoint) / "eval")
    out.mkdir(parents=True, exist_ok=True)
    pixels, ok = load_pixels(
        [s.image for s in items], mcfg.image_size, mcfg.geometry
    )  # an unreadable image is named and skipped
    items, pixels = [s for s, good in zip(items, ok) if good], pixels[ok]
    names = [s.image.name for s in items]
    refs = {s.image.name: list(s.captions) for s in items}
    enc = run_batched(encoder, pixels, 32)
    cap = KerasCaptioner(decoder, mcfg.state_names)
    report = {"checkpoint": str(args.checkpoint), "images": len(names), "split": args.split}
    for beam in args.beam:
        res = caption_encoded(enc, cap, vocab, beam, mcfg.max_len, desc=f"beam {beam}")
        m, hyps = score_results(names, res, refs, vocab)
        tag = "greedy" if beam == 1 else f"beam{beam}"
        report[tag] = m
        write_jsonl(out / f"{tag}.jsonl", names, res, hyps, refs)
        for i in range(min(args.figures, len(names))):
            words = hyps[names[i]].split()
            save_attention_figure(
                out / f"attention_{tag}_{i}.png",
                pixels[i],
                words,
                res[i].attention[: len(words)],
                title=f"{names[i]}: {hyps[names[i]]}",
            )
    const = best_constant_caption({s.image.name: s.captions for s in train_s})
    report["constant_floor"] = {"caption": const, **caption_metrics({n: const for n in names}, refs)}
    hist = Path(args.checkpoint) / "history.json"
    if hist.is_file():
        from .plots import training_curves

        training_curves(json.loads(hist.read_text()), out / "training_curves.png")
    (out / "metrics.json").write_text(json.dumps(report, indent=2))
    return report
