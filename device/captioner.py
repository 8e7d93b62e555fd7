"""Bundle + backend + search = a caption. Models are loaded once; each call only runs them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backends import load_model
from .bundle import Bundle, ModelSpec, TensorSpec, load_bundle
from .errors import BundleError, ImageError
from .grounding import GroundingSettings, ObjectTable, combine, rerank, word_bias
from .person import PersonDetector
from .segmenter import Segmenter
from .quant import dequantize, quantize, requantize
from .search import SearchResult, search

_FLOAT = (0.0, 0, "float32")  # (scale, zero point, dtype) of a tensor that is not quantised


def _params(spec: TensorSpec) -> tuple:
    return spec.scale, spec.zero_point, spec.dtype


@dataclass
class Caption:
    """One description: its text and token ids, each word's log p, attention, class probabilities and timings."""

    text: str
    tokens: list[int]
    token_logprobs: list[float]
    attention: np.ndarray  # [words, P]
    finished: bool
    beams: list[SearchResult] = field(default_factory=list)  # the search's final hypotheses, best first
    classes: np.ndarray | None = None  # ImageNet probabilities [1000] when the bundle's encoder gives them
    contradicted: list[str] = field(default_factory=list)  # groups the chosen beam names against the classifier
    reranked: bool = False  # grounding chose another beam than the search's best
    timings_ms: dict = field(default_factory=dict)  # encoder, decoder (sum of steps), search, total, steps
    person: float | None = None  # the person detector's score 0..1, when the bundle has one and it ran

    @property
    def mean_logprob(self) -> float:
        """Mean log p per generated word: the caption's confidence (-inf for an empty one)."""
        return float(np.mean(self.token_logprobs)) if self.token_logprobs else float("-inf")


class BundleStep:
    """device.search step over a bundle's decoder, bound to one image's encoder outputs.

    Each call quantises nothing new: the image inputs are converted to the decoder's input
    quantisation once, the state stays in the decoder's own codes between steps, and only logits
    and attention are dequantised to float for the search."""

    def __init__(self, model, decoder: ModelSpec, state_names: tuple[str, ...], enc_out: dict, enc_spec: ModelSpec):
        self.model, self.spec, self.state_names = model, decoder, state_names

        def to_input(n):  # encoder output (its codes, or float) -> decoder input codes
            src = _FLOAT if np.asarray(enc_out[n]).dtype.kind == "f" else _params(enc_spec.outputs[n])
            return requantize(enc_out[n], src, _params(decoder.inputs[n]))

        self.image_inputs = {n: to_input(n) for n in ("features", "keys")}  # [1,P,*]
        self.init_state = {n: to_input(n) for n in state_names}  # [1,H]
        self._tiled: dict[int, dict] = {1: self.image_inputs}
        self.steps, self.invoke_s = 0, 0.0

    def __call__(self, tokens, state):
        """One decoder step for a batch of beams: (token ids [B], state) -> (logits, new state, attention)."""
        b = len(tokens)
        if b not in self._tiled:
            self._tiled[b] = {n: np.repeat(v, b, 0) for n, v in self.image_inputs.items()}
        t0 = time.perf_counter()
        out = self.model.run({**self._tiled[b], **state, "token": np.asarray(tokens, np.int32)})
        self.invoke_s += time.perf_counter() - t0
        self.steps += 1
        o, i = self.spec.outputs, self.spec.inputs
        new = {n: requantize(out[n + "_next"], _params(o[n + "_next"]), _params(i[n])) for n in self.state_names}
        logits = dequantize(out["logits"], o["logits"].scale, o["logits"].zero_point)
        alpha = dequantize(out["alpha"], o["alpha"].scale, o["alpha"].zero_point)
        return logits, new, alpha


class Captioner:
    """Loads a bundle's encoder and decoder once, for the configured backend."""

    def __init__(
        self,
        bundle: Bundle | str | Path,
        backend: str = "cpu",
        threads: int | None = None,
        beam: int | None = None,
        max_len: int | None = None,
        grounding: GroundingSettings | None = None,
        segmenter: bool = True,
        edgetpu_device: str = "",
    ):
        """bundle: a bundle folder (or a loaded Bundle); backend: cpu | edgetpu | tensorrt (the encoder's
        runtime; the decoder step is always int8 TFLite on one CPU thread); threads: CPU threads of the
        encoder (None: the runtime's default); beam: beam width >= 1 (None: the bundle's);
        max_len: words at most (None: the bundle's); grounding: None = the bundle's tuned settings (off
        for a bundle without a class head); segmenter: run the bundle's segmenter and person detector
        (when it has them) for more evidence, people above all; edgetpu_device: which Coral ("" the first
        found, "usb", "pci", "usb:1", as libedgetpu names them)."""
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        b = self.bundle
        sd = b.search_defaults
        self.beam = int(beam if beam is not None else sd.get("beam", 3))
        self.max_len = int(max_len if max_len is not None else sd.get("max_len", b.manifest["model"]["max_len"]))
        self.length_penalty = float(sd.get("length_penalty", 1.0))
        self.objects = ObjectTable.load(b.file(b.manifest["objects"])) if b.manifest.get("objects") else None
        if self.objects is not None:
            width = b.encoder.outputs["classes"].shape[-1] if "classes" in b.encoder.outputs else None
            if width != len(self.objects.labels):
                raise BundleError(
                    f"bundle {b.path}: objects.json lists {len(self.objects.labels)} classes but the "
                    f"encoder gives {width}; convert the checkpoint again"
                )
        self.grounding = grounding or GroundingSettings(**sd.get("grounding", {}))
        seg, pd = b.manifest.get("segmenter"), b.manifest.get("person_detector")
        self.segmenter = Segmenter(b.file(seg["file"]), threads) if seg and segmenter else None
        self.person = PersonDetector(b.file(pd["file"]), threads) if pd and segmenter else None
        enc_file = b.file(b.encoder.file)
        if backend == "edgetpu":
            v = b.variant("edgetpu")
            if not v:
                raise BundleError(f"bundle {b.path} has no Edge TPU encoder; convert with --target edgetpu")
            enc_file = b.file(v["encoder"])
        if backend == "tensorrt":
            v = b.variant("tensorrt") or {}
            self.encoder = load_model("tensorrt", b.path / v.get("encoder_engine", "encoder.engine"))
        else:
            extra = {"device": edgetpu_device or None} if backend == "edgetpu" else {}
            self.encoder = load_model(backend, enc_file, threads=threads, **extra)
        # The decoder step is a few small ops on a batch of beams: one thread, as a second one
        # mostly waits for the first (and competes with the camera and audio on a Pi).
        self.decoder = load_model("cpu", b.file(b.decoder.file), threads=1)
        self.backend = backend

    @property
    def vocab(self):
        """The bundle's vocabulary."""
        return self.bundle.vocab

    def encode_raw(self, pixels: np.ndarray) -> dict:
        """uint8 [S,S,3] (device.preprocess output) -> the encoder's outputs in its own dtypes, batch 1."""
        size = self.bundle.image_size
        if pixels.shape != (size, size, 3) or pixels.dtype != np.uint8:
            raise ImageError(f"encoder wants uint8 [{size},{size},3], got {pixels.dtype} {pixels.shape}")
        spec = self.bundle.encoder.inputs["image"]
        return self.encoder.run(
            {
                "image": (
                    pixels[None]
                    if np.dtype(spec.dtype) == np.uint8
                    else quantize(pixels[None].astype(np.float32), spec.scale, spec.zero_point, np.dtype(spec.dtype))
                )
            }
        )

    def dequantize(self, enc_out: dict) -> dict:
        """encode_raw's outputs as float32."""
        spec = self.bundle.encoder
        return {n: dequantize(v, spec.outputs[n].scale, spec.outputs[n].zero_point) for n, v in enc_out.items()}

    def encode(self, pixels: np.ndarray) -> dict:
        """Like encode_raw, dequantised to float32."""
        return self.dequantize(self.encode_raw(pixels))

    def step_for(self, enc_out: dict) -> BundleStep:
        """The decoder step bound to one image's encoder outputs: this bundle's raw ones, or float
        ones (a float model's, quantised into the decoder's inputs)."""
        b = self.bundle
        return BundleStep(self.decoder, b.decoder, b.state_names, enc_out, b.encoder)

    def classes(self, enc_out: dict) -> np.ndarray | None:
        """The ImageNet probabilities [1000] among the encoder's outputs, or None."""
        return self.dequantize({"classes": enc_out["classes"]})["classes"][0] if "classes" in enc_out else None

    def context(self, pixels: np.ndarray) -> tuple[dict, BundleStep]:
        """One image -> (initial state, step bound to it), for device.search."""
        step = self.step_for(self.encode_raw(pixels))
        return step.init_state, step

    def caption(self, pixels: np.ndarray, beam: int | None = None) -> Caption:
        """Describe one RGB uint8 image (already the model's size and geometry); beam: None = the default."""
        t0 = time.perf_counter()
        raw = self.encode_raw(pixels)
        coverage = self.segmenter.coverage(pixels) if self.segmenter is not None else None
        person = self.person.score(pixels) if self.person is not None else None
        c = self.caption_encoded(raw, beam, coverage=coverage, person=person)
        c.person = person
        c.timings_ms["encoder"] = (time.perf_counter() - t0) * 1e3 - c.timings_ms["total"]
        c.timings_ms["total"] += c.timings_ms["encoder"]
        return c

    def caption_encoded(
        self,
        raw: dict,
        beam: int | None = None,
        grounding: GroundingSettings | None = None,
        coverage: dict | None = None,
        person: float | None = None,
    ) -> Caption:
        """The caption of one image's raw encoder outputs: search, steered and re-ranked by the class
        head when the bundle has one (grounding: this Captioner's settings unless given; coverage:
        the segmenter's, person: the person detector's score, when they ran)."""
        beam = self.beam if beam is None else beam
        g = grounding or self.grounding
        t0 = time.perf_counter()
        step = self.step_for(raw)
        probs = self.classes(raw)
        grounded = probs is not None and self.objects is not None and g.penalty > 0
        evidence = combine(self.objects.evidence(probs), coverage, g, person) if grounded else {}
        r = search(
            step,
            step.init_state,
            self.vocab.start_id,
            self.vocab.end_id,
            beam=beam,
            max_len=self.max_len,
            length_penalty=self.length_penalty,
            bias=word_bias(self.vocab, evidence, g) if grounded else None,
        )
        chosen, bad = rerank(r.beams, self.vocab, evidence, g) if grounded else (r, [])
        total = (time.perf_counter() - t0) * 1e3
        timings = {
            "encoder": 0.0,
            "decoder": step.invoke_s * 1e3,
            "search": total - step.invoke_s * 1e3,
            "total": total,
            "steps": step.steps,
        }
        return Caption(
            self.vocab.decode(chosen.tokens),
            chosen.tokens,
            chosen.token_logprobs,
            chosen.attention,
            chosen.finished,
            r.beams,
            probs,
            bad,
            chosen is not r,
            timings,
        )

    def close(self) -> None:
        """Free the models; idempotent."""
        for m in (
            getattr(self, "encoder", None),
            getattr(self, "decoder", None),
            getattr(self, "segmenter", None),
            getattr(self, "person", None),
        ):
            if m is not None:
                m.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
