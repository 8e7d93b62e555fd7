"""Caption images with the float model through device.search, and score them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.search import SearchResult, search
from device.vocab import Vocabulary

from .float_step import KerasCaptioner
from evaluation.caption_metrics import caption_metrics


def caption_encoded(
    enc_outs: dict, captioner: KerasCaptioner, vocab: Vocabulary, beam: int, max_len: int, desc: str = "captioning"
) -> list[SearchResult]:
    """enc_outs: encoder/head outputs for N images (numpy, batch-first)."""
    n = len(enc_outs["features"])
    results = []
    for i in tqdm(range(n), desc=desc, unit="img", leave=False):
        init, step = captioner.context({k: v[i : i + 1] for k, v in enc_outs.items()})
        results.append(search(step, init, vocab.start_id, vocab.end_id, beam=beam, max_len=max_len))
    return results


def run_batched(model, x: np.ndarray, batch: int = 64) -> dict:
    """A Keras model with dict outputs (the head on grids, the encoder on pixels) over x, in batches."""
    outs: dict[str, list] = {}
    for s in range(0, len(x), batch):
        o = model(x[s : s + batch].astype(np.float32), training=False)
        for k, v in o.items():
            outs.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v) for k, v in outs.items()}


def score_results(names: list[str], results: list[SearchResult], refs: dict, vocab: Vocabulary) -> tuple[dict, dict]:
    hyps = {n: vocab.decode(r.tokens) for n, r in zip(names, results)}
    m = caption_metrics(hyps, refs)
    m["distinct_captions"] = len(set(hyps.values()))
    m["images"] = len(hyps)
    return m, hyps


def write_jsonl(path: Path, names: list[str], results: list[SearchResult], hyps: dict, refs: dict) -> None:
    with open(path, "w") as f:
        for n, r in zip(names, results):
            f.write(
                json.dumps(
                    {
                        "image": n,
                        "hypothesis": hyps[n],
                        "tokens": r.tokens,
                        "mean_logprob": round(r.mean_logprob, 4),
                        "finished": r.finished,
                        "references": list(refs[n]),
                    }
                )
                + "\n"
            )
