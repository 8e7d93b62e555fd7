"""Bundle + backend + search = a caption. Models are loaded once; each call only runs them."""
from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .backends import load_model
from .bundle import Bundle, ModelSpec, load_bundle
from .errors import BundleError, ImageError
from .faster_of import FasterOf
from .quant import converter, dequantize, is_8bit, log_softmax_table, quantize
from .search import SearchResult, argmax_allowed, search


@dataclass
class Caption:
    text: str
    tokens: list[int]
    token_logprobs: list[float]
    attention: np.ndarray  # [words, P]
    finished: bool
    timings_ms: dict = field(default_factory=dict)  # encoder, decoder (sum of steps), search, total, steps

    @property
    def mean_logprob(self) -> float:
        return float(np.mean(self.token_logprobs)) if self.token_logprobs else float("-inf")


def _q(spec, x):
    return quantize(x, spec.scale, spec.zero_point, np.dtype(spec.dtype))


def _dq(spec, x):
    return dequantize(x, spec.scale, spec.zero_point)


_FLOAT = (0.0, 0, np.float32)


def _params(spec) -> tuple:
    """(scale, zero_point, dtype) of a tensor (a float dtype, scale 0: not quantised)."""
    return spec.scale, spec.zero_point, np.dtype(spec.dtype)


class StepPlan:
    """What a BundleStep needs that depends on the bundle, not the image: the hand-over functions
    (device.quant.converter) and greedy's tables. Built once per Captioner, not on every press."""

    def __init__(self, encoder: ModelSpec, decoder: ModelSpec, state_names: tuple[str, ...], float_outputs: frozenset):
        self.state_names = state_names
        ei, di, do = encoder.outputs, decoder.inputs, decoder.outputs
        # float_outputs: encoder outputs that came as float (a TensorRT engine's, or a float model's)
        src = {n: _FLOAT if n in float_outputs else _params(ei[n]) for n in ("features", "keys", *state_names)}
        self.to_input = {n: converter(p, _params(di[n])) for n, p in src.items()}
        nxt = {n: converter(_params(do[n + "_next"]), _params(di[n])) for n in state_names}
        self.next = {n: f for n, f in nxt.items() if not getattr(f, "identity", False)}  # tied states: nothing to do
        lg = _params(do["logits"])
        self.logits = converter(lg, _FLOAT)
        self.alpha = converter(_params(do["alpha"]), _FLOAT)
        self.lsm = log_softmax_table(lg) if is_8bit(lg[2], lg[0]) else None  # CodeStep's tables


class BundleStep:
    """device.search step over a bundle's decoder, bound to one image's encoder outputs.

    Tensors stay in integer codes between steps: the state is held as the decoder's own input codes,
    and each hand-over (encoder outputs -> decoder inputs once per image, new state -> next input,
    logits and attention -> float) is one 256-entry table lookup (device.quant.converter), equal to
    dequantising and quantising again but without the float arithmetic on every step.
    On a TFLite decoder the image inputs are set once per batch size, not on every step."""

    def __init__(self, model, plan: StepPlan, enc_out: dict):
        self.model, self.plan, self.state_names = model, plan, plan.state_names
        self.image_inputs = {n: plan.to_input[n](enc_out[n]) for n in ("features", "keys")}  # [1,P,*] decoder codes
        self.init_state = {n: plan.to_input[n](enc_out[n]) for n in self.state_names}  # [1,H] decoder codes
        self._bind = getattr(model, "bind", None)
        self._tiled: dict[int, dict] = {1: self.image_inputs}
        self._owner = next(_step_ids)  # a fresh name: an id() could be reused by a later step
        self.invoke_times: list[float] = []  # seconds, one per decoder invoke

    def _image_inputs(self, b: int) -> dict:
        ins = self._tiled.get(b)
        if ins is None:
            ins = self._tiled[b] = {n: np.repeat(v, b, 0) for n, v in self.image_inputs.items()}
        return ins

    def _run(self, tokens: np.ndarray, state) -> dict[str, Callable[[], np.ndarray]]:
        """One decoder invoke -> {output name: a call that returns it}."""
        m = self._bind(len(tokens)) if self._bind else None  # None: a backend that takes every input on every call
        if m is None:
            t0 = time.perf_counter()
            out = self.model.run({**self._image_inputs(len(tokens)), **state, "token": tokens})
            get = {n: functools.partial(out.__getitem__, n) for n in out}  # shaped like a bound interpreter's getters
        else:
            put = m.setters
            if m.owner != self._owner:  # another image's features (or a plain run) are in it
                for n, v in self._image_inputs(len(tokens)).items():
                    put[n](v)
                m.owner = self._owner
            put["token"](tokens)
            for n in self.state_names:
                put[n](state[n])
            t0 = time.perf_counter()
            m.invoke()
            get = m.getters
        self.invoke_times.append(time.perf_counter() - t0)
        return get

    @property
    def steps(self) -> int:
        return len(self.invoke_times)

    @property
    def invoke_s(self) -> float:
        return sum(self.invoke_times)

    @property
    def later_invoke_s(self) -> float | None:
        """Median time of the invokes after the first (which also pays for the weights the encoder
        evicted); a median, so that one preempted invoke does not speak for the whole caption."""
        later = sorted(self.invoke_times[1:])
        return later[len(later) // 2] if later else None

    def _state(self, get) -> dict:
        new = {n: get[n + "_next"]() for n in self.state_names}
        for n, f in self.plan.next.items():
            new[n] = f(new[n])
        return new

    def __call__(self, tokens, state):
        get = self._run(np.asarray(tokens, np.int32), state)
        return self.plan.logits(get["logits"]()), self._state(get), self.plan.alpha(get["alpha"]())


class CodeStep(BundleStep):
    """A BundleStep whose decoder has 8-bit logits, with device.search's greedy pick/settle done on
    the codes: the dequantisation is increasing, so the codes' argmax is the logits' (ties too), and
    log p comes from two 256-entry tables, for all words at once after the last one."""

    def pick(self, token, state, banned):
        get = self._run(token, state)
        q = get["logits"]()  # [1,V] codes, a copy
        nxt = argmax_allowed(q[0], banned)
        return nxt, self._state(get), (q, get["alpha"](), q[0, nxt])  # the picked word's own code, noted now

    def settle(self, records, ids):
        codes = np.concatenate([r[0] for r in records]).view(np.uint8)  # [T, V] table indices
        picked = np.array([r[2] for r in records]).view(np.uint8)  # [T] ids' codes (== codes[t, ids[t]])
        rel, ex = self.plan.lsm
        lps = rel.take(picked) - np.log(ex.take(codes).sum(axis=1))
        return lps.tolist(), self.plan.alpha(np.concatenate([r[1] for r in records]))


_step_ids = itertools.count()


class Captioner:
    """Loads a bundle's encoder and decoder once, for the configured backend."""

    def __init__(self, bundle: Bundle | str | Path, backend: str = "cpu", threads: int | None = None,
                 beam: int | None = None, max_len: int | None = None):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        b = self.bundle
        sd = b.search_defaults
        self.beam = int(beam if beam is not None else sd.get("beam", 3))
        self.max_len = int(max_len if max_len is not None else sd.get("max_len", b.manifest["model"]["max_len"]))
        self.length_penalty = float(sd.get("length_penalty", 1.0))
        enc_file = b.file(b.encoder.file)
        if backend == "edgetpu":
            v = b.variant("edgetpu")
            if not v:
                raise BundleError(f"bundle {b.path} has no Edge TPU encoder; convert with --target edgetpu")
            enc_file = b.file(v["encoder"])
        if backend == "tensorrt":
            v = b.variant("tensorrt") or {}
            engine = b.path / v.get("encoder_engine", "encoder.engine")
            self.encoder = load_model("tensorrt", engine)
        else:
            self.encoder = load_model(backend, enc_file, threads=threads)
        # Beams (batch 3, the default) decode on one thread: on 2 they lost up to 0.2x encoder time
        # when the machine was loaded, as a descheduled worker stalls each of the step's parallel ops.
        # Greedy (batch 1) decodes on 1 or `threads`, whichever has been faster lately (same outputs,
        # bit for bit): on 2 each core keeps half of the ~1.3 MB of int8 weights (Flickr8k model) in
        # its 1 MB L2, 22 us a step instead of 31 on this x86 machine, but 41 when the other core is
        # busy (a shared machine here; camera and audio on a Pi).
        # by thread count; made when first used: a daemon that only runs beams never holds a second (~3 MB)
        self._decoders = dict.fromkeys((1, threads or 1))
        self.decoder = self._decoder_on(1)  # beams', and greedy's on one thread
        # cost: a caption's median decoder invoke after the first; smoothing 0.25 so that one noisy
        # caption does not switch, while a busy core (41 against 22 us) switches within three
        self.greedy_threads = FasterOf(self._decoders, retry_every=16, smoothing=0.25)
        self.backend = backend
        self._plans: dict[frozenset, StepPlan] = {}  # by which encoder outputs are float (a TensorRT engine's)

    def _decoder_on(self, threads: int):
        """The decoder whose batch-1 (greedy) interpreter runs on `threads`; other batches on one."""
        m = self._decoders[threads]
        if m is None:
            b = self.bundle
            m = self._decoders[threads] = load_model("cpu", b.file(b.decoder.file), threads=1,
                                                     batch_threads={1: threads})
        return m

    @property
    def vocab(self):
        return self.bundle.vocab

    def encode_raw(self, pixels: np.ndarray) -> dict:
        """uint8 [S,S,3] (device.preprocess output) -> the encoder's outputs in its own dtypes, batch 1."""
        size = self.bundle.image_size
        if pixels.shape != (size, size, 3) or pixels.dtype != np.uint8:
            raise ImageError(f"encoder wants uint8 [{size},{size},3], got {pixels.dtype} {pixels.shape}")
        spec = self.bundle.encoder.inputs["image"]
        return self.encoder.run({"image": pixels[None] if np.dtype(spec.dtype) == np.uint8
                                 else _q(spec, pixels[None].astype(np.float32))})

    def dequantize(self, enc_out: dict) -> dict:
        """encode_raw's outputs as float32."""
        spec = self.bundle.encoder
        return {n: _dq(spec.outputs[n], v) for n, v in enc_out.items()}

    def encode(self, pixels: np.ndarray) -> dict:
        """Like encode_raw, dequantised to float32."""
        return self.dequantize(self.encode_raw(pixels))

    def step_for(self, enc_out: dict, decoder=None) -> BundleStep:
        """The decoder step bound to one image's encoder outputs: this bundle's raw ones, or float ones
        (a float model's, quantised into the decoder's inputs). decoder: one of this Captioner's
        decoder models (default: the one-thread one)."""
        floats = frozenset(n for n, v in enc_out.items() if np.asarray(v).dtype.kind == "f")
        plan = self._plans.get(floats)
        if plan is None:
            b = self.bundle
            plan = self._plans[floats] = StepPlan(b.encoder, b.decoder, b.state_names, floats)
        return (CodeStep if plan.lsm is not None else BundleStep)(decoder or self.decoder, plan, enc_out)

    def context(self, pixels: np.ndarray) -> tuple[dict, BundleStep]:
        """One image -> (initial state, step bound to it), for device.search."""
        step = self.step_for(self.encode_raw(pixels))
        return step.init_state, step

    def caption(self, pixels: np.ndarray, beam: int | None = None) -> Caption:
        beam = self.beam if beam is None else beam
        t0 = time.perf_counter()
        threads = self.greedy_threads.pick() if beam <= 1 else 1
        step = self.step_for(self.encode_raw(pixels), self._decoder_on(threads))
        init = step.init_state
        t1 = time.perf_counter()
        r: SearchResult = search(step, init, self.vocab.start_id, self.vocab.end_id, beam=beam,
                                 max_len=self.max_len, length_penalty=self.length_penalty)
        t2 = time.perf_counter()
        if beam <= 1 and step.later_invoke_s is not None:
            self.greedy_threads.record(threads, step.later_invoke_s)
        timings = {"encoder": (t1 - t0) * 1e3, "decoder": step.invoke_s * 1e3,
                   "search": (t2 - t1 - step.invoke_s) * 1e3, "total": (t2 - t0) * 1e3, "steps": step.steps}
        return Caption(self.vocab.decode(r.tokens), r.tokens, r.token_logprobs, r.attention, r.finished, timings)

    def close(self) -> None:
        for m in (getattr(self, "encoder", None), *getattr(self, "_decoders", {}).values()):
            if m is not None:
                m.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
