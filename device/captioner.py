"""Bundle + backend + search = a caption. Models are loaded once; each call only runs them."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import load_model
from .bundle import Bundle, ModelSpec, load_bundle
from .errors import BundleError, ImageError
from .quant import dequantize, quantize
from .search import SearchResult, search


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


class BundleStep:
    """device.search step over a bundle's decoder. Image context is quantised into the decoder's
    input parameters once per image (the encoder's output scales differ) and tiled per batch size."""

    def __init__(self, model, spec: ModelSpec, state_names: tuple[str, ...], features: np.ndarray, keys: np.ndarray):
        self.model, self.spec, self.state_names = model, spec, state_names
        self._fq = _q(spec.inputs["features"], features)  # [1,P,D] in the decoder's dtype
        self._kq = _q(spec.inputs["keys"], keys)
        self._tiled: dict[int, tuple] = {}
        self.invoke_s = 0.0
        self.steps = 0

    def __call__(self, tokens, state):
        b = len(tokens)
        if b not in self._tiled:
            self._tiled[b] = (np.repeat(self._fq, b, 0), np.repeat(self._kq, b, 0))
        f, k = self._tiled[b]
        ins = {"token": np.asarray(tokens, np.int32), "features": f, "keys": k}
        for n in self.state_names:
            ins[n] = _q(self.spec.inputs[n], state[n])
        t0 = time.perf_counter()
        out = self.model.run(ins)
        self.invoke_s += time.perf_counter() - t0
        self.steps += 1
        o = self.spec.outputs
        new = {n: _dq(o[n + "_next"], out[n + "_next"]) for n in self.state_names}
        return _dq(o["logits"], out["logits"]), new, _dq(o["alpha"], out["alpha"])


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
            self.decoder = load_model("cpu", b.file(b.decoder.file), threads=threads)
        else:
            self.encoder = load_model(backend, enc_file, threads=threads)
            self.decoder = load_model("cpu", b.file(b.decoder.file), threads=threads)
        self.backend = backend

    @property
    def vocab(self):
        return self.bundle.vocab

    def encode(self, pixels: np.ndarray) -> dict:
        """uint8 [S,S,3] (device.preprocess output) -> dequantised encoder outputs, batch 1."""
        size = self.bundle.image_size
        if pixels.shape != (size, size, 3) or pixels.dtype != np.uint8:
            raise ImageError(f"encoder wants uint8 [{size},{size},3], got {pixels.dtype} {pixels.shape}")
        spec = self.bundle.encoder
        out = self.encoder.run({"image": _q(spec.inputs["image"], pixels[None].astype(np.float32))
                                if np.dtype(spec.inputs["image"].dtype) != np.uint8 else pixels[None]})
        return {n: _dq(spec.outputs[n], v) for n, v in out.items()}

    def caption(self, pixels: np.ndarray, beam: int | None = None) -> Caption:
        t0 = time.perf_counter()
        enc = self.encode(pixels)
        t1 = time.perf_counter()
        step = BundleStep(self.decoder, self.bundle.decoder, self.bundle.state_names, enc["features"], enc["keys"])
        init = {n: enc[n] for n in self.bundle.state_names}
        r: SearchResult = search(step, init, self.vocab.start_id, self.vocab.end_id,
                                 beam=self.beam if beam is None else beam, max_len=self.max_len,
                                 length_penalty=self.length_penalty)
        t2 = time.perf_counter()
        timings = {"encoder": (t1 - t0) * 1e3, "decoder": step.invoke_s * 1e3,
                   "search": (t2 - t1 - step.invoke_s) * 1e3, "total": (t2 - t0) * 1e3, "steps": step.steps}
        return Caption(self.vocab.decode(r.tokens), r.tokens, r.token_logprobs, r.attention, r.finished, timings)

    def close(self) -> None:
        for m in (getattr(self, "encoder", None), getattr(self, "decoder", None)):
            if m is not None:
                m.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
