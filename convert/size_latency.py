"""`python -m convert size-latency CHECKPOINT INT8_BUNDLE FLOAT32_BUNDLE`: sizes and per-model latency
(median of many invokes, one run) of int8 vs float32 TFLite vs the float Keras model, as ratios."""

from __future__ import annotations

import numpy as np

from device.captioner import Captioner
from training.checkpoint import load_checkpoint
from training.model import decoder_inputs

from .build import bundle_sizes
from .timing import median_ms


def bench(checkpoint: str, int8_bundle: str, f32_bundle: str, n: int = 200, beam: int = 3) -> dict:
    import tensorflow as tf

    mcfg, _, encoder, decoder, _ = load_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (mcfg.image_size, mcfg.image_size, 3), dtype=np.uint8)
    out = {}
    for tag, path in (("int8", int8_bundle), ("float32", f32_bundle)):
        cap = Captioner(path, threads=2)
        init, step = cap.context(px)
        toks = np.full(beam, 4, np.int32)
        spec = cap.bundle.encoder.inputs["image"]
        img = px[None] if spec.dtype == "uint8" else px[None].astype(np.float32)
        dspec = cap.bundle.decoder.inputs
        dec_in = {
            "token": toks,
            **{k: np.repeat(v, beam, 0) for k, v in step.image_inputs.items()},
            **{k: np.zeros((beam, mcfg.hidden_dim), np.dtype(dspec[k].dtype)) for k in init},
        }
        out[tag] = {
            "encoder_ms": median_ms(lambda: cap.encoder.run({"image": img}), n),
            "decoder_step_ms": median_ms(lambda: cap.decoder.run(dec_in), n * 5),
            "size_bytes": bundle_sizes(cap.bundle.path),
        }
        cap.close()
    kenc = tf.function(lambda x: encoder(x, training=False))
    kdec = tf.function(lambda xs: decoder(xs, training=False))
    enc = encoder(px[None].astype(np.float32), training=False)
    x = tf.constant(px[None].astype(np.float32))
    kin = [
        tf.constant(np.full(beam, 4, np.int32)) if k == "token" else tf.constant(np.repeat(np.asarray(enc[k]), beam, 0))
        for k in decoder_inputs(mcfg.state_names)
    ]
    out["keras"] = {
        "encoder_ms": median_ms(lambda: kenc(x), n // 4),
        "decoder_step_ms": median_ms(lambda: kdec(kin), n),
    }
    q, f, k = out["int8"], out["float32"], out["keras"]
    print(f"seesay convert size-latency: {checkpoint}, decoder batch {beam} (beam), medians of {n}+ invokes")
    print(
        f"  size encoder+decoder: int8 {q['size_bytes'] / 1e6:.2f} MB, float32 {f['size_bytes'] / 1e6:.2f} MB "
        f"-> {q['size_bytes'] / f['size_bytes']:.1%} of float32 (goal <= 30%)"
    )
    for part in ("encoder_ms", "decoder_step_ms"):
        print(
            f"  {part[:-3]:13s} int8 {q[part]:.3f} ms | float32 TFLite {f[part]:.3f} ms ({f[part] / q[part]:.2f}x "
            "int8) "
            f"| Keras {k[part]:.3f} ms ({k[part] / q[part]:.2f}x int8)"
        )
    return out
