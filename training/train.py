"""Training: cached frozen-backbone features -> teacher-forced decoder with attention, masked
cross-entropy + doubly stochastic attention penalty, Adam with cosine decay, early stopping on
validation BLEU-4 (greedy, device search code), checkpoints that carry config + vocabulary."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .data_errors import DataError
from device.vocab import Vocabulary, tokenize

from .checkpoint import save_config
from .config import ModelConfig, TrainConfig
from .backbone import CLASS_HEAD_LAYER, IMAGENET_CLASSES
from .data import all_square, find_splits, load_dataset, split, split_by_lists
from .evaluate import caption_encoded, run_batched, score_results, write_jsonl
from .features import compute_grids
from .float_step import KerasCaptioner
from evaluation.caption_metrics import best_constant_caption, caption_metrics
from .model import build_decoder_step, build_encoder, decoder_step
from .scst import self_critical

log = logging.getLogger("seesay.train")
print = functools.partial(print, flush=True)  # progress lines reach a log file as they happen

_MIRROR = {"left": "right", "right": "left"}


def mirror_caption(text: str) -> str:
    """The caption of the mirrored image: left and right swap."""
    return " ".join(_MIRROR.get(w, w) for w in tokenize(text))


def encode_captions(vocab: Vocabulary, caps: list[str], max_len: int) -> np.ndarray:
    arr = np.zeros((len(caps), max_len + 2), np.int32)  # <pad> = 0 after <end>
    for i, c in enumerate(caps):
        ids = vocab.encode(c, max_len)
        arr[i, : len(ids)] = ids
    return arr


def make_strategy(name: str):
    if name == "mirrored":
        # all local GPUs, gradients all-reduced; without GPUs, the CPU's logical devices (one unless
        # the process split it, as the tests do)
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(None if gpus or len(cpus) < 2 else [d.name for d in cpus])
    if name == "multiworker":  # several machines, each told its role by TF_CONFIG
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name != "none":
        raise DataError(f"--distribute must be none, mirrored or multiworker, not {name!r}")
    return tf.distribute.get_strategy()


def resolve_auto(mcfg: ModelConfig, tcfg: TrainConfig, train_s) -> ModelConfig:
    """Fill in the config's data-dependent defaults (geometry, class head) as they will be stored."""
    geometry = mcfg.geometry
    if geometry == "auto":
        geometry = "squash" if all_square(train_s) else "center-crop"
    classes = mcfg.classes
    if classes < 0:
        classes = IMAGENET_CLASSES if tcfg.encoder_weights != "none" and mcfg.backbone in CLASS_HEAD_LAYER else 0
    return dataclasses.replace(mcfg, geometry=geometry, classes=classes)


def _loss_fn(head, decoder, cfg: ModelConfig, tcfg: TrainConfig, grids, tokens, training: bool):
    """grids: backbone feature grids [B,g,g,C] (frozen encoder) -- the step computes them when fine-tuning."""
    enc = head(grids, training=training)
    state = [enc[n] for n in cfg.state_names]
    inp, tgt = tokens[:, :-1], tokens[:, 1:]  # teacher forcing: feed word t, predict word t+1
    mask = tf.cast(tgt != 0, tf.float32)  # [B,T]
    ce_sum, alpha_sum = 0.0, 0.0
    for t in range(tokens.shape[1] - 1):
        out = decoder_step(decoder, cfg, inp[:, t], state, enc, training)
        state = [out[n] for n in cfg.state_names]
        onehot = tf.one_hot(tgt[:, t], cfg.vocab_size)
        soft = onehot * (1 - tcfg.label_smoothing) + tcfg.label_smoothing / cfg.vocab_size
        ce = tf.nn.softmax_cross_entropy_with_logits(soft, out["logits"])  # [B]
        ce_sum += ce * mask[:, t]
        alpha_sum += out["alpha"] * mask[:, t : t + 1]  # [B,49]
    n_words = tf.maximum(tf.reduce_sum(mask, 1), 1.0)
    ce_mean = tf.reduce_mean(ce_sum / n_words)
    # doubly stochastic attention: every position should be looked at about once over the caption
    penalty = tf.reduce_mean(tf.reduce_sum((1.0 - alpha_sum) ** 2, axis=1)) / float(cfg.grid**2)
    return ce_mean + tcfg.attention_penalty * penalty, ce_mean


def train(
    data: str,
    out: str | Path,
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    images_dir: str | None = None,
    cache_dir: str | None = None,
    resume: bool = False,
    train_split: list[str] | None = None,
    val_split: list[str] | None = None,
    extra_train: list[str] | None = None,
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    keras.utils.set_random_seed(tcfg.seed)

    samples, report = load_dataset(data, images_dir)
    print(f"data: {report.summary()}")
    splits = (
        {"train": [Path(p) for p in train_split], "val": [Path(p) for p in val_split or []]}
        if train_split
        else find_splits(data)
    )
    if splits:
        if not splits["val"]:
            raise DataError("--train-split needs --val-split too")
        train_s, val_s = split_by_lists(samples, splits["train"], splits["val"])
        split_meta = {
            "train_split": [str(p.resolve()) for p in splits["train"]],
            "val_split": [str(p.resolve()) for p in splits["val"]],
        }
        print(
            f"split ({', '.join(p.name for p in splits['train'])} / {splits['val'][0].name}): "
            f"{len(train_s)} train / {len(val_s)} val images"
        )
    else:
        train_s, val_s = split(samples, tcfg.val_fraction, tcfg.seed)
        split_meta = {}
        print(f"split (seed {tcfg.seed}): {len(train_s)} train / {len(val_s)} val images")
    for extra in extra_train or []:  # e.g. everyday COCO scenes beside Flickr8k: every photo is trained on
        more, more_report = load_dataset(extra)
        taken = {s.image.name for s in train_s + val_s}
        clash = [s.image.name for s in more if s.image.name in taken]
        if clash:
            raise DataError(
                f"{extra}: {len(clash)} photos share a file name with the main data (e.g. {clash[0]}); "
                "rename them: file names identify photos in the splits and the feature cache"
            )
        train_s = train_s + more
        print(f"extra training data {extra}: {more_report.summary()}")
    split_meta["extra_train"] = [str(Path(e).resolve()) for e in extra_train or []]
    mcfg = resolve_auto(mcfg, tcfg, train_s)
    print(f"geometry: {mcfg.geometry}; ImageNet class head: {mcfg.classes or 'none'}")
    if resume and (out / "vocab.json").is_file():
        vocab = Vocabulary.load(out / "vocab.json")
    else:
        vocab = Vocabulary.build([c for s in train_s for c in s.captions], tcfg.min_count)
        vocab.save(out / "vocab.json")
    mcfg = dataclasses.replace(mcfg, vocab_size=len(vocab))
    print(f"vocabulary: {len(vocab)} words (min count {tcfg.min_count})")

    strategy = make_strategy(tcfg.distribute)
    with strategy.scope():
        encoder, backbone, head = build_encoder(mcfg, tcfg.encoder_weights)
        backbone.trainable = tcfg.fine_tune_encoder  # frozen: features are computed once and cached
        decoder = build_decoder_step(mcfg)

    paths = [s.image for s in train_s + val_s]
    desc = {"backbone": mcfg.backbone, "alpha": mcfg.alpha, "size": mcfg.image_size, "weights": tcfg.encoder_weights}
    bn_training = False
    if tcfg.fine_tune_encoder:  # images go through the backbone in every step
        from .features import load_pixels

        pixels, ok = load_pixels(paths, mcfg.image_size, mcfg.geometry)
        inputs = np.concatenate([pixels, pixels[:, :, ::-1]]) if tcfg.hflip else pixels
        # from scratch, BatchNorm must learn its statistics; pretrained ones stay as they are
        bn_training = tcfg.encoder_weights == "none"
        if bn_training:  # Keras' MobileNet BatchNorm momentum (0.999) is too slow for a short run
            for layer in backbone._flatten_layers(include_self=False, recursive=True):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = 0.9
    else:
        inputs, ok = compute_grids(backbone, paths, mcfg.image_size, mcfg.geometry, desc, cache_dir, tcfg.hflip)

    def grids_of(idx) -> np.ndarray:
        if not tcfg.fine_tune_encoder:
            return inputs[idx]
        return np.concatenate(
            [
                np.asarray(backbone(inputs[idx[s : s + 64]].astype(np.float32), training=False))
                for s in range(0, len(idx), 64)
            ]
        )

    n_all = len(paths)
    tr_idx = [i for i in range(len(train_s)) if ok[i]]
    va_idx = [i for i in range(len(train_s), n_all) if ok[i]]

    img_idx, caps = [], []
    for i in tr_idx:
        for c in train_s[i].captions:
            img_idx.append(i), caps.append(c)
            if tcfg.hflip:
                img_idx.append(n_all + i), caps.append(mirror_caption(c))
    tokens = encode_captions(vocab, caps, mcfg.max_len)
    img_idx = np.array(img_idx, np.int32)
    n_pairs = len(img_idx)
    steps_per_epoch = max(1, n_pairs // tcfg.batch_size)
    print(
        f"{n_pairs} training captions ({'with' if tcfg.hflip else 'without'} mirrored copies), "
        f"{steps_per_epoch} steps/epoch"
    )

    with strategy.scope():
        schedule = keras.optimizers.schedules.CosineDecay(
            tcfg.lr, tcfg.epochs * steps_per_epoch, alpha=tcfg.lr_final_fraction
        )
        opt = keras.optimizers.Adam(schedule, global_clipnorm=tcfg.clip_norm)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False)
        variables = head.trainable_variables + decoder.trainable_variables
        if tcfg.fine_tune_encoder:
            variables = backbone.trainable_variables + variables
        opt.build(variables)
        state_ckpt = tf.train.Checkpoint(backbone=backbone, head=head, decoder=decoder, optimizer=opt, epoch=epoch_var)
    state_mgr = tf.train.CheckpointManager(state_ckpt, out / "state", max_to_keep=1)

    history: list[dict] = []
    best = -1.0
    if resume and state_mgr.latest_checkpoint:
        state_ckpt.restore(state_mgr.latest_checkpoint)
        if (out / "history.json").is_file():
            history = json.loads((out / "history.json").read_text())
            best = max((h["val_bleu4"] for h in history), default=-1.0)
        print(f"resumed from {state_mgr.latest_checkpoint} at epoch {int(epoch_var.numpy())}")

    rng = np.random.default_rng(tcfg.seed + int(epoch_var.numpy()))
    # All features live in one tensor; a step gathers its rows by index (no per-step copy through Python).
    inputs_t = tf.Variable(np.asarray(inputs), trainable=False, name="inputs")
    n_rep = strategy.num_replicas_in_sync

    @tf.function(jit_compile=tcfg.jit_compile)
    def loss_and_grads(x, tk):
        with tf.GradientTape() as tape:
            gr = backbone(x, training=bn_training) if tcfg.fine_tune_encoder else x
            loss, ce = _loss_fn(head, decoder, mcfg, tcfg, gr, tk, True)
            scaled = loss / n_rep
        return loss, ce, tape.gradient(scaled, variables)

    def replica_step(idx, tk):
        loss, ce, grads = loss_and_grads(tf.cast(tf.gather(inputs_t, idx), tf.float32), tk)
        opt.apply_gradients(zip(grads, variables))
        return loss, ce

    def epoch_batches():
        order = rng.permutation(n_pairs)[: steps_per_epoch * tcfg.batch_size]
        ds = tf.data.Dataset.from_tensor_slices((img_idx[order], tokens[order])).batch(
            tcfg.batch_size, drop_remainder=True
        )
        return strategy.experimental_distribute_dataset(ds.prefetch(2))

    @tf.function
    def train_step(batch):
        loss, ce = strategy.run(replica_step, args=batch)
        return (
            strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, None),
            strategy.reduce(tf.distribute.ReduceOp.MEAN, ce, None),
        )

    captioner = KerasCaptioner(decoder, mcfg.state_names)
    val_names = [paths[i].name for i in va_idx]
    val_refs = {paths[i].name: list(val_s[i - len(train_s)].captions) for i in va_idx}
    eval_idx = va_idx[: tcfg.eval_images]
    patience_left = tcfg.patience
    extra = {
        "data": {
            "source": str(data),
            "train_images": len(tr_idx),
            "val_images": len(va_idx),
            "split_seed": tcfg.seed,
            "val_fraction": tcfg.val_fraction,
            **split_meta,
        }
    }

    def validate(idx: list[int], beams=(1,)):
        """-> names, [(metrics, hypotheses, results) per beam width]; the head runs once for all of them."""
        enc = run_batched(head, grids_of(idx))
        names = [paths[i].name for i in idx]
        scored = []
        for beam in beams:
            res = caption_encoded(enc, captioner, vocab, beam=beam, max_len=mcfg.max_len, desc=f"val beam {beam}")
            scored.append((*score_results(names, res, val_refs, vocab), res))
        return names, scored

    def save_weights():
        encoder.save_weights(str(out / "encoder.weights.h5"))
        decoder.save_weights(str(out / "decoder.weights.h5"))

    xe_done = out / "xe_done"  # cross-entropy stopped early or by the budget: --resume goes on to SCST
    while int(epoch_var.numpy()) < tcfg.epochs and not (resume and xe_done.is_file()):
        epoch = int(epoch_var.numpy()) + 1
        t0 = time.time()
        losses = []
        bar = tqdm(epoch_batches(), total=steps_per_epoch, desc=f"epoch {epoch}/{tcfg.epochs}", unit="step")
        for batch in bar:
            loss, ce = train_step(batch)
            losses.append(float(ce))
            bar.set_postfix(ce=f"{np.mean(losses[-20:]):.3f}")
        names, [(m, hyps, _)] = validate(eval_idx)
        epoch_var.assign(epoch)
        rec = {
            "epoch": epoch,
            "train_ce": float(np.mean(losses)),
            "val_bleu4": m["bleu4"],
            "val_cider": m["cider"],
            "val_distinct": m["distinct_captions"],
            "seconds": round(time.time() - t0, 1),
        }
        history.append(rec)
        print(
            f"epoch {epoch}: ce {rec['train_ce']:.3f}  val BLEU-4 {m['bleu4']:.4f}  CIDEr {m['cider']:.3f}  "
            f"distinct {m['distinct_captions']}/{len(names)}  ({rec['seconds']} s)  e.g. {hyps[names[0]]!r}"
        )
        if m["bleu4"] > best:
            best, patience_left = m["bleu4"], tcfg.patience
            save_weights()
            save_config(out, mcfg, tcfg, {**extra, "epoch": epoch})
        else:
            patience_left -= 1
        state_mgr.save()
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if patience_left <= 0:
            print(f"early stop: no better val BLEU-4 for {tcfg.patience} epochs")
            xe_done.write_text(json.dumps({"epochs": epoch, "stopped": "early"}))
            break
        if tcfg.max_minutes and (time.time() - t_start) / 60 > tcfg.max_minutes - rec["seconds"] / 60:
            print(f"time budget of {tcfg.max_minutes} min reached")
            xe_done.write_text(json.dumps({"epochs": epoch, "stopped": "budget"}))
            break
    train_minutes = (time.time() - t_start) / 60

    encoder.load_weights(str(out / "encoder.weights.h5"))
    decoder.load_weights(str(out / "decoder.weights.h5"))
    scst_file = out / "scst_history.json"
    if tcfg.scst_epochs and not scst_file.is_file():
        t_scst = time.time()
        refs_of = {i: list(train_s[i].captions) for i in tr_idx}
        if tcfg.hflip:  # mirrored views are rows n_all + i, their captions mirrored
            refs_of.update({n_all + i: [mirror_caption(c) for c in train_s[i].captions] for i in tr_idx})
        scst_hist = self_critical(
            head,
            decoder,
            mcfg,
            tcfg,
            vocab,
            inputs,
            sorted(refs_of),
            refs_of,
            lambda: validate(eval_idx)[1][0][0],
            save_weights,
            tcfg.seed,
        )
        scst_file.write_text(json.dumps(scst_hist, indent=1))
        encoder.load_weights(str(out / "encoder.weights.h5"))
        decoder.load_weights(str(out / "decoder.weights.h5"))
        train_minutes += (time.time() - t_scst) / 60

    # Final report with the best weights: greedy and beam 3 on the whole val split, and the floor.
    metrics = {"train_minutes": round(train_minutes, 1), "val_images": len(va_idx)}
    for beam, (m, hyps, res) in zip((1, 3), validate(va_idx, (1, 3))[1]):
        metrics["greedy" if beam == 1 else "beam3"] = m
        write_jsonl(out / f"val_{'greedy' if beam == 1 else 'beam3'}.jsonl", val_names, res, hyps, val_refs)
    const = best_constant_caption({s.image.name: s.captions for s in train_s})
    metrics["constant_floor"] = {"caption": const, **caption_metrics({n: const for n in val_names}, val_refs)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    save_config(
        out, mcfg, tcfg, {**extra, "epoch": max(history, key=lambda h: h["val_bleu4"])["epoch"] if history else 0}
    )
    try:
        from .plots import training_curves

        training_curves(history, out / "training_curves.png")
    except Exception as e:  # a plot must never lose a finished training run
        log.warning("could not draw training curves: %s", e)
    return metrics
