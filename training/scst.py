"""Self-critical sequence training (Rennie et al., 2017) on the cached backbone features.

For each image, sample k captions from the decoder; each sample's advantage is its CIDEr-D minus a
baseline: the mean of the other k-1 samples' rewards (default; no extra decode, lower variance), or the
greedy caption's (Rennie et al.). The loss raises the log-probability of the samples that beat the
baseline and lowers the others'. A handful of epochs after cross-entropy."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from device.vocab import Vocabulary, tokenize

from .cider_d import CiderD
from .config import ModelConfig, TrainConfig
from .model import decoder_step


def reference_ids(vocab: Vocabulary, captions, oov: dict[str, int]) -> list[list[int]]:
    """Reference captions as ids; a word outside the vocabulary gets its own negative id (kept in
    oov, shared by the whole corpus so document frequencies count it right), so that a candidate's
    <unk> never matches it."""
    return [
        [vocab.index[w] if w in vocab.index else -oov.setdefault(w, len(oov) + 1) for w in tokenize(c)]
        for c in captions
    ]


def until_end(ids: np.ndarray, end_id: int) -> list[int]:
    ids = ids.tolist()
    return ids[: ids.index(end_id)] if end_id in ids else ids


def make_decode(head, decoder, cfg: ModelConfig, start_id: int):
    """(grids [B,...], k) -> token ids [B*k, max_len+1]: k samples per image, or greedy when k == 0."""
    names = cfg.state_names

    @tf.function(reduce_retracing=True)
    def decode(grids, k: int):
        enc = head(grids, training=False)
        reps = max(k, 1)
        enc = {n: tf.repeat(v, reps, axis=0) for n, v in enc.items()}
        state = [enc[n] for n in names]
        tok = tf.fill([tf.shape(enc["features"])[0]], start_id)
        seq = []
        for _ in range(cfg.max_len + 1):
            out = decoder_step(decoder, cfg, tok, state, enc)
            state = [out[n] for n in names]
            if k:
                tok = tf.cast(tf.random.categorical(out["logits"], 1)[:, 0], tf.int32)
            else:
                tok = tf.argmax(out["logits"], -1, output_type=tf.int32)
            seq.append(tok)
        return tf.stack(seq, 1)

    return decode


def make_policy_step(head, decoder, cfg: ModelConfig, start_id: int, end_id: int, opt, variables, jit: bool):
    names = cfg.state_names

    @tf.function(jit_compile=jit)
    def grads_of(grids, k: int, seqs, advantage):
        with tf.GradientTape() as tape:
            enc = head(grids, training=False)
            enc = {n: tf.repeat(v, k, axis=0) for n, v in enc.items()}
            state = [enc[n] for n in names]
            inp = tf.concat([tf.fill([tf.shape(seqs)[0], 1], start_id), seqs[:, :-1]], 1)
            # every word up to and including the first <end> counts
            ended = tf.cumsum(tf.cast(tf.equal(seqs, end_id), tf.float32), axis=1, exclusive=True)
            mask = tf.cast(ended < 1, tf.float32)
            total = 0.0
            for t in range(seqs.shape[1]):
                out = decoder_step(decoder, cfg, inp[:, t], state, enc)
                state = [out[n] for n in names]
                logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(seqs[:, t], out["logits"])
                total += tf.reduce_sum(-advantage * logp * mask[:, t])
            loss = total / tf.reduce_sum(mask)
        return loss, tape.gradient(loss, variables)

    def step(grids, k, seqs, advantage):
        loss, grads = grads_of(grids, k, seqs, advantage)
        opt.apply_gradients(zip(grads, variables))
        return float(loss)

    return step


def self_critical(
    head,
    decoder,
    cfg: ModelConfig,
    tcfg: TrainConfig,
    vocab: Vocabulary,
    inputs: np.ndarray,
    views: list[int],
    view_refs: dict[int, list[str]],
    validate,
    save,
    seed: int,
) -> list[dict]:
    """Runs tcfg.scst_epochs epochs over the image views (rows of inputs); after each, validate() ->
    metrics dict with "cider"; save() is called whenever validation CIDEr improves. -> history."""
    oov: dict[str, int] = {}
    cider = CiderD({v: reference_ids(vocab, view_refs[v], oov) for v in views})
    variables = head.trainable_variables + decoder.trainable_variables
    opt = keras.optimizers.Adam(tcfg.scst_lr, global_clipnorm=tcfg.clip_norm)
    opt.build(variables)
    decode = make_decode(head, decoder, cfg, vocab.start_id)
    policy_step = make_policy_step(head, decoder, cfg, vocab.start_id, vocab.end_id, opt, variables, tcfg.jit_compile)
    rng = np.random.default_rng(seed)
    tf.random.set_seed(seed)
    k, bs = tcfg.scst_samples, tcfg.scst_batch
    if tcfg.scst_baseline not in ("mean", "greedy"):
        raise ValueError(f"--scst-baseline must be mean or greedy, not {tcfg.scst_baseline!r}")
    if tcfg.scst_baseline == "mean" and k < 2:
        raise ValueError("--scst-baseline mean needs --scst-samples >= 2 (the mean of the other samples)")

    def baseline(r: np.ndarray, batch: np.ndarray, grids) -> np.ndarray:
        if tcfg.scst_baseline == "mean":
            per_image = r.reshape(-1, k)
            return ((per_image.sum(1, keepdims=True) - per_image) / (k - 1)).reshape(-1)
        greedy = decode(grids, 0).numpy()
        return np.repeat([cider.score(v, until_end(g, vocab.end_id)) for v, g in zip(batch, greedy)], k)

    best = validate()["cider"]
    print(
        f"self-critical: start from val CIDEr {best:.3f}; {len(views)} image views, {k} samples each, "
        f"{tcfg.scst_baseline} baseline"
    )
    history = []
    for epoch in range(1, tcfg.scst_epochs + 1):
        order = rng.permutation(np.array(views))
        order = order[: len(order) // bs * bs]
        bar = tqdm(range(0, len(order), bs), desc=f"scst {epoch}/{tcfg.scst_epochs}", unit="step")
        rewards = []
        for s in bar:
            batch = np.sort(order[s : s + bs])
            grids = tf.constant(np.asarray(inputs[batch], np.float32))
            samples = decode(grids, k).numpy()
            r = np.array([cider.score(batch[i // k], until_end(samples[i], vocab.end_id)) for i in range(len(samples))])
            adv = (r - baseline(r, batch, grids)).astype(np.float32)
            policy_step(grids, k, tf.constant(samples), tf.constant(adv))
            rewards.append(r.mean())
            bar.set_postfix(reward=f"{np.mean(rewards[-20:]):.3f}")
        m = validate()
        rec = {
            "scst_epoch": epoch,
            "train_reward": float(np.mean(rewards)),
            "val_cider": m["cider"],
            "val_bleu4": m["bleu4"],
        }
        history.append(rec)
        print(
            f"scst epoch {epoch}: sample CIDEr-D {rec['train_reward']:.3f}  val CIDEr {m['cider']:.3f}  "
            f"BLEU-4 {m['bleu4']:.4f}"
        )
        if m["cider"] > best:
            best = m["cider"]
            save()
    return history
