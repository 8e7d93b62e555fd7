"""Caption search over token ids: greedy and beam. Shared by training (float Keras step),
convert (the accuracy check) and the device (TFLite step), so any difference between the float
model and the int8 bundle is the model's, never the search's.

A *step* is any callable  step(tokens int32[B], state {name: array[B, ...]})
                              -> (logits float32[B, V], new_state {name: ...}, alpha float32[B, P]).
It holds the image context (features, keys) itself and broadcasts it to B rows.

bias: an optional float32 [V] added to every step's log p when choosing words (grounding's penalty
on the names of objects the image contradicts); the log p reported per word stays the model's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

State = Mapping[str, np.ndarray]
Step = Callable[[np.ndarray, State], tuple[np.ndarray, dict, np.ndarray]]


@dataclass
class SearchResult:
    """The best caption a search found: ids, their log p and attention per word."""

    tokens: list[int]  # generated ids, without <start>/<end>
    token_logprobs: list[float]  # log p of each generated id (and of <end> when finished)
    attention: np.ndarray  # [len(tokens), P] attention weights per generated word
    score: float  # length-normalised log-probability used to rank beams
    finished: bool  # False when max_len was hit before <end>
    beams: list["SearchResult"] = field(default_factory=list)  # all final hypotheses, best first (this one first)

    @property
    def mean_logprob(self) -> float:
        """Mean log p per generated word (-inf for an empty caption)."""
        return float(np.mean(self.token_logprobs)) if self.token_logprobs else float("-inf")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log(softmax(logits)) over the last axis, computed stably in float32."""
    z = logits.astype(np.float32, copy=False) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _tile(state: State, k: int) -> dict:
    return {n: np.repeat(np.asarray(v), k, axis=0) for n, v in state.items()}  # states keep the step's dtype


def greedy(
    step: Step,
    init_state: State,
    start_id: int,
    end_id: int,
    max_len: int = 20,
    banned: tuple[int, ...] = (0, 1, 3),
    bias: np.ndarray | None = None,
) -> SearchResult:
    """Most probable word at each step. banned: ids never emitted (<pad> <start> <unk>)."""
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    state, token = dict(init_state), np.array([start_id], np.int32)
    ids, lps, att, finished = [], [], [], False
    for _ in range(max_len):
        logits, state, alpha = step(token, state)
        logp = log_softmax(logits)[0]
        rank = logp + bias if bias is not None else logp.copy()
        rank[list(banned)] = -np.inf
        nxt = int(np.argmax(rank))
        lps.append(float(logp[nxt]))
        if nxt == end_id:
            finished = True
            break
        ids.append(nxt)
        att.append(alpha[0])
        token = np.array([nxt], np.int32)
    r = SearchResult(ids, lps, _stack(att, alpha), sum(lps) / len(lps), finished)
    r.beams = [r]
    return r


def beam_search(
    step: Step,
    init_state: State,
    start_id: int,
    end_id: int,
    beam: int = 3,
    max_len: int = 20,
    length_penalty: float = 1.0,
    banned: tuple[int, ...] = (0, 1, 3),
    bias: np.ndarray | None = None,
) -> SearchResult:
    """Beam search, `beam` hypotheses batched through the step's batch dimension.

    Scores are sum(log p) / len**length_penalty (len counts <end>). Stops when `beam` hypotheses
    have ended; if none ends within max_len the best unfinished one is returned (finished=False).
    The batch stays `beam` wide throughout (row 0 alone is live at the first step), so a
    fixed-batch runtime sees one shape.
    """
    if beam <= 1:
        return greedy(step, init_state, start_id, end_id, max_len, banned, bias)
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    k = beam
    state = _tile(init_state, k)
    tokens = np.full(k, start_id, np.int32)
    scores = np.full(k, -np.inf, np.float32)
    scores[0] = 0.0
    # Back-pointers instead of growing per-beam histories: a step appends (parent row, word, its
    # log p, its attention) for each kept row, and a hypothesis is read back only when it is returned.
    back: list[tuple[list[int], list[int], list[float], np.ndarray]] = []
    finished: list[tuple[float, int, int, int, float]] = []  # (norm, order, steps, parent row, log p of <end>)
    ban = list(banned)
    for t in range(max_len):
        logits, state, alpha = step(tokens, state)
        logp = log_softmax(logits)
        total = scores[:, None] + (logp + bias if bias is not None else logp)  # [k, V]
        total[:, ban] = -np.inf
        best = _top(total.ravel(), 2 * k)
        parents, words = np.divmod(best, total.shape[1])
        values, lps = total.ravel()[best].tolist(), logp.ravel()[best].tolist()
        keep_p, keep_w, keep_lp = [], [], []
        for p, w, v, lp in zip(parents.tolist(), words.tolist(), values, lps):
            if w == end_id:  # _top returns finite values only
                finished.append((v / (t + 1) ** length_penalty, len(finished), t, p, lp))
            elif len(keep_p) < k:
                keep_p.append(p)
                keep_w.append(w)
                keep_lp.append(lp)
            if len(keep_p) == k and len(finished) >= k:
                break
        if len(finished) >= k or not keep_p:
            break
        n_live = len(keep_p)
        keep_p += [keep_p[0]] * (k - n_live)  # pad with dead copies: the batch stays k wide
        keep_w += [keep_w[0]] * (k - n_live)
        keep_lp += [keep_lp[0]] * (k - n_live)
        rows = np.array(keep_p)
        back.append((keep_p, keep_w, keep_lp, alpha[rows]))
        scores = total[rows, keep_w].astype(np.float32)
        scores[n_live:] = -np.inf
        state = {n: v[rows] for n, v in state.items()}
        tokens = np.array(keep_w, np.int32)
    if finished:
        finished.sort(key=lambda f: (-f[0], f[1]))  # best first; equal scores keep their order found
        beams = []
        for norm, _, steps, p, end_lp in finished:
            ids, lps, att = _trace(back, steps, p)
            beams.append(SearchResult(ids, lps + [end_lp], _stack(att, alpha), norm, True))
    else:  # no hypothesis ended within max_len: the unfinished ones, best first
        norm_alive = scores / (len(back) ** length_penalty)
        beams = []
        for i in np.argsort(-norm_alive, kind="stable"):
            if np.isfinite(norm_alive[i]):
                ids, lps, att = _trace(back, len(back), int(i))
                beams.append(SearchResult(ids, lps, _stack(att, alpha), float(norm_alive[i]), False))
    best = beams[0]
    best.beams = beams
    return best


def _trace(back: list, steps: int, row: int) -> tuple[list[int], list[float], list[np.ndarray]]:
    """The words, log p and attention of the hypothesis in `row` after `steps` kept steps."""
    ids, lps, att = [], [], []
    for t in range(steps - 1, -1, -1):
        parents, words, lp, alpha = back[t]
        ids.append(words[row])
        lps.append(lp[row])
        att.append(alpha[row])
        row = parents[row]
    return ids[::-1], lps[::-1], att[::-1]


def _top(x: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest finite values, best first (ties: lowest index first).
    n argmax passes: for beam-sized n this is several times faster than argpartition + sort."""
    x = x.copy()
    out = []
    for _ in range(min(n, x.size)):
        i = int(x.argmax())
        if x[i] == -np.inf:
            break
        out.append(i)
        x[i] = -np.inf
    return np.array(out, np.intp)


def _stack(atts: list, alpha: np.ndarray) -> np.ndarray:
    """[words, P] from the attention rows of the kept words; alpha (any step's) gives P when none was kept."""
    return np.stack(atts) if atts else np.zeros((0, alpha.shape[-1]), np.float32)


def search(
    step: Step,
    init_state: State,
    start_id: int,
    end_id: int,
    beam: int = 3,
    max_len: int = 20,
    length_penalty: float = 1.0,
    bias: np.ndarray | None = None,
) -> SearchResult:
    """Greedy when beam <= 1, else beam search."""
    if beam <= 1:
        return greedy(step, init_state, start_id, end_id, max_len, bias=bias)
    return beam_search(step, init_state, start_id, end_id, beam, max_len, length_penalty, bias=bias)
