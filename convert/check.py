"""The accuracy check: the float Keras model and the bundle caption the same held-out images through
the same device/ search code; report.md + report.json go into the bundle."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.attention_figure import save_attention_figure
from device.captioner import Captioner
from device.errors import ImageError
from device.preprocess import preprocess_file
from device.search import search
from training.checkpoint import load_checkpoint
from training.data import load_dataset, split_as_trained
from training.float_step import KerasCaptioner, encode_one
from training.model import decoder_inputs
from evaluation.caption_metrics import caption_metrics

from .conversion_errors import AccuracyError, ConvertError
from .timing import median_ms

log = logging.getLogger("seesay.check")


def held_out(meta: dict, data: str | None, limit: int | None):
    """The checkpoint's own val split (same source, seed, fraction) or every image of --data."""
    src = data or meta.get("data", {}).get("source")
    if not src or not Path(src).exists():
        raise ConvertError(f"no held-out data: the checkpoint's source {src!r} is not here; pass --data")
    samples, _ = load_dataset(src)
    if data is None or Path(data).resolve() == Path(meta["data"]["source"]).resolve():
        _, samples = split_as_trained(samples, meta["data"])
    return samples[:limit] if limit else samples


def load_pair(checkpoint: str, bundle_dir: str):
    """(model config, vocabulary, float encoder, float decoder, checkpoint meta, Captioner) of a
    checkpoint and the bundle converted from it; refused when their vocabularies differ."""
    mcfg, vocab, encoder, decoder, meta = load_checkpoint(checkpoint)
    cap = Captioner(bundle_dir)
    if cap.vocab.words != vocab.words:
        raise ConvertError(f"bundle {bundle_dir} was not converted from {checkpoint}: vocabularies differ")
    return mcfg, vocab, encoder, decoder, meta, cap


def readable(items, size: int, geometry: str):
    """(sample, uint8 pixels) for each held-out image that decodes; a broken one is named and skipped."""
    for s in items:
        try:
            yield s, preprocess_file(s.image, size, geometry)
        except ImageError as e:
            log.warning("%s: skipped", e)


def latency(captioner: Captioner, encoder, decoder, mcfg, px: np.ndarray, beam: int, n: int = 30) -> dict:
    """Median ms per call: bundle encoder and decoder step vs the float Keras ones (batch = beam)."""
    import tensorflow as tf

    raw = captioner.encode_raw(px)
    enc, step = captioner.dequantize(raw), captioner.step_for(raw)
    init = step.init_state
    toks = np.full(beam, 4, np.int32)
    st = {k: np.repeat(v, beam, 0) for k, v in init.items()}
    kenc = tf.function(lambda x: encoder(x, training=False))
    kdec = tf.function(lambda xs: decoder(xs, training=False))
    x = tf.constant(px[None].astype(np.float32))
    kin = [
        tf.constant(np.repeat(enc[k], beam, 0)) if k != "token" else tf.constant(toks)
        for k in decoder_inputs(mcfg.state_names)
    ]
    return {
        "bundle_encoder_ms": median_ms(lambda: captioner.encode(px), n),
        "bundle_decoder_step_ms": median_ms(lambda: step(toks, st), n * 3),
        "keras_encoder_ms": median_ms(lambda: kenc(x), n),
        "keras_decoder_step_ms": median_ms(lambda: kdec(kin), n * 3),
    }


def check(
    checkpoint: str,
    bundle_dir: str,
    data: str | None = None,
    limit: int | None = None,
    beam: int | None = None,
    threshold: float = 1.0,
    samples: int = 6,
    report_dir: str | None = None,
) -> dict:
    """Float vs bundle on the held-out images; writes report.md/.json (into the bundle, or report_dir).
    Only measures: the bundle's settings are its own (grounding is chosen by tune-grounding)."""
    mcfg, vocab, encoder, decoder, meta, cap = load_pair(checkpoint, bundle_dir)
    beam = beam or cap.beam
    items = held_out(meta, data, limit)
    fcap = KerasCaptioner(decoder, mcfg.state_names)
    refs, f_hyp, q_hyp, f_ids, q_ids, pix, q_res, enc_only, dec_only = {}, {}, {}, {}, {}, {}, {}, {}, {}
    raws, coverage, person = {}, {}, {}
    opts = {"beam": beam, "max_len": cap.max_len, "length_penalty": cap.length_penalty}
    for s, px in tqdm(
        readable(items, mcfg.image_size, mcfg.geometry), total=len(items), desc="float vs bundle", unit="img"
    ):
        k = s.image.name
        enc = encode_one(encoder, px)
        init, step = fcap.context(enc)
        r = search(step, init, vocab.start_id, vocab.end_id, **opts)
        raw = cap.encode_raw(px)  # one bundle encoder run serves the bundle's caption and the encoder-only half
        q_step = cap.step_for(raw)
        q = search(q_step, q_step.init_state, vocab.start_id, vocab.end_id, **opts)
        # which half disagrees: float decoder on the bundle's encoder outputs, bundle decoder on the float ones
        e_init, e_step = fcap.context(cap.dequantize(raw))
        enc_only[k] = search(e_step, e_init, vocab.start_id, vocab.end_id, **opts).tokens == r.tokens
        d_step = cap.step_for(enc)
        dec_only[k] = search(d_step, d_step.init_state, vocab.start_id, vocab.end_id, **opts).tokens == r.tokens
        refs[k], f_ids[k], q_ids[k] = list(s.captions), r.tokens, q.tokens
        f_hyp[k], q_hyp[k] = vocab.decode(r.tokens), vocab.decode(q.tokens)
        pix[k], q_res[k] = px, q
        if cap.objects is not None:
            raws[k] = raw
            if cap.segmenter is not None:
                coverage[k] = cap.segmenter.coverage(px)
            if cap.person is not None:
                person[k] = cap.person.score(px)
    if not refs:
        raise ConvertError("no readable held-out images to check against")
    fm, qm = caption_metrics(f_hyp, refs), caption_metrics(q_hyp, refs)
    n_same = sum(f_ids[k] == q_ids[k] for k in refs)  # token ids, not strings
    same = n_same / len(refs)
    vs_float = caption_metrics(q_hyp, {k: [f_hyp[k]] for k in refs})
    first = next(iter(pix.values()))
    lat = latency(cap, encoder, decoder, mcfg, first, beam)
    b = Path(bundle_dir)
    man = cap.bundle.manifest
    sizes = {f: (b / f).stat().st_size for f in (man["encoder"]["file"], man["decoder"]["file"])}
    drop = (fm["bleu4"] - qm["bleu4"]) * 100
    report = {
        "checkpoint": str(checkpoint),
        "bundle": str(bundle_dir),
        "quantization": man["quantization"],
        "images": len(refs),
        "beam": beam,
        "float": fm,
        "bundle_metrics": qm,
        "bleu4_drop_points": drop,
        "threshold_points": threshold,
        "identical_captions": same,
        "identical_captions_95ci": wilson_interval(n_same, len(refs)),
        "bundle_vs_float": vs_float,
        "identical_by_half": {
            "bundle_encoder_float_decoder": float(np.mean([enc_only[k] for k in refs])),
            "float_encoder_bundle_decoder": float(np.mean([dec_only[k] for k in refs])),
        },
        "distinct_captions": {"float": len(set(f_hyp.values())), "bundle": len(set(q_hyp.values()))},
        "latency_ms": lat,
        "size_bytes": sizes,
        "passed": drop <= threshold,
    }
    if raws:  # what the device says: captions steered by the class head, with the bundle's own settings
        from .grounding_tune import grounded

        own = caption_metrics(grounded(cap, raws, cap.grounding, beam, coverage, person), refs)
        report["grounding"] = {
            "bundle_settings": dataclasses.asdict(cap.grounding),
            "bundle_grounded": own,
            "segmenter": bool(coverage),
        }
    out = Path(report_dir) if report_dir else b
    out.mkdir(parents=True, exist_ok=True)
    figs = []
    for k in list(refs)[:samples]:
        words = q_hyp[k].split()
        fig = save_attention_figure(
            out / f"sample_{len(figs)}.jpg",
            pix[k],
            words,
            q_res[k].attention[: len(words)],
            title=f"{man['quantization']}: {q_hyp[k]}",
        )
        figs.append((k, fig.name))
    report["samples"] = [{"image": k, "float": f_hyp[k], "bundle": q_hyp[k], "figure": f} for k, f in figs]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(_markdown(report))
    if not report["passed"]:
        raise AccuracyError(
            f"{man['quantization']} bundle loses {drop:.2f} BLEU-4 points against the float model "
            f"(allowed {threshold}); identical captions {same:.0%}. Do not ship it: try more or more "
            "representative --calibration data, or --quantize float16."
        )
    return report


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n: how far a figure from few images can be from
    the model's true rate."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)  # exact at the ends


def _markdown(r: dict) -> str:
    f, q = r["float"], r["bundle_metrics"]
    rows = "\n".join(
        f"| {m} | {f[m]:.4f} | {q[m]:.4f} |"
        for m in ("bleu1", "bleu2", "bleu3", "bleu4", "cider", "chair_s", "chair_i")
    )
    lat = r["latency_ms"]
    s = [
        f"# Accuracy check: {r['quantization']} bundle vs float model",
        "",
        f"{r['images']} held-out images, beam {r['beam']}, same device/ search code on both sides.",
        "",
        f"| metric | float (Keras) | bundle ({r['quantization']}) |",
        "| --- | --- | --- |",
        rows,
        "",
        f"- BLEU-4 drop: **{r['bleu4_drop_points']:.2f} points** (threshold {r['threshold_points']}) -> "
        f"{'PASS' if r['passed'] else 'FAIL'}",
        f"- identical captions (token ids): **{r['identical_captions']:.1%}** of {r['images']} "
        f"(95% interval {r['identical_captions_95ci'][0]:.1%}-{r['identical_captions_95ci'][1]:.1%})",
        f"- identical captions with only one half quantised: encoder "
        f"{r['identical_by_half']['bundle_encoder_float_decoder']:.1%}, decoder "
        f"{r['identical_by_half']['float_encoder_bundle_decoder']:.1%}",
        f"- BLEU-4 of bundle captions against the float captions: {r['bundle_vs_float']['bleu4']:.4f}",
        f"- distinct captions: float {r['distinct_captions']['float']}, bundle {r['distinct_captions']['bundle']}",
        f"- latency (median ms): encoder {lat['bundle_encoder_ms']:.2f} (Keras {lat['keras_encoder_ms']:.2f}), "
        f"decoder step {lat['bundle_decoder_step_ms']:.3f} (Keras {lat['keras_decoder_step_ms']:.3f})",
        "- sizes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in r["size_bytes"].items()),
        f"- most hallucinated objects (bundle): {q['most_hallucinated']}",
        "",
    ]
    if "grounding" in r:
        g = r["grounding"]
        s += [
            "## As the device says it (grounded with the bundle's settings)",
            "",
            f"- penalty {g['bundle_settings']['penalty']}, min evidence {g['bundle_settings']['min_evidence']}, "
            f"min coverage {g['bundle_settings']['min_coverage']} (evidence: the ImageNet head"
            f"{' and the segmenter' if g['segmenter'] else ''}; chosen by tune-grounding, see grounding.md): "
            f"CIDEr {g['bundle_grounded']['cider']:.4f}, BLEU-4 {g['bundle_grounded']['bleu4']:.4f}, "
            f"CHAIR_s {g['bundle_grounded']['chair_s']:.4f}, CHAIR_i {g['bundle_grounded']['chair_i']:.4f}, "
            f"most hallucinated {g['bundle_grounded']['most_hallucinated']}",
            "",
        ]
    s += ["## Samples", ""]
    for smp in r["samples"]:
        s += [
            f"**{smp['image']}**  ",
            f"float: {smp['float']}  ",
            f"bundle: {smp['bundle']}  ",
            f"![]({smp['figure']})",
            "",
        ]
    return "\n".join(s)
