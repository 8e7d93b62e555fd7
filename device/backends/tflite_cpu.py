"""TFLite on the CPU (XNNPACK), the backend that always exists.

Inputs and outputs are addressed by signature name. A model with a dynamic batch (the decoder
step) gets one interpreter per batch size, made on first use and kept: resizing one interpreter
back and forth would re-allocate on every call.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import BundleError
from .litert import make_interpreter


class BoundInterpreter:
    """One batch size's interpreter, its tensors set and read one by one.

    TFLite keeps an input tensor's contents until it is set again, so a loop that changes only some
    inputs between invokes (the decoder's token and state; its image features stay) sets only
    those. `owner` names whose constant inputs are in it now; run() clears it.
    setters/getters are the interpreter's own calls bound to each tensor (functools.partial, no
    Python frame of ours): the decoder loop makes seven of them per word."""

    __slots__ = ("interpreter", "inputs", "invoke", "setters", "getters", "owner")

    def __init__(self, it, ins: dict, outs: dict):
        self.interpreter, self.inputs = it, ins  # name -> tensor index, to read an input back (tests)
        self.invoke = it.invoke
        self.setters = {n: functools.partial(it.set_tensor, i) for n, i in ins.items()}
        self.getters = {n: functools.partial(it.get_tensor, i) for n, i in outs.items()}  # copies: the next invoke does not change them
        self.owner = None

    def set(self, name: str, arr: np.ndarray) -> None:
        self.setters[name](arr)

    def get(self, name: str) -> np.ndarray:
        return self.getters[name]()


class TFLiteModel:
    """batch_threads: an int per batch size overriding `threads` for that size's interpreter."""

    def __init__(self, path: str | Path, threads: int | None = None, delegates=(),
                 batch_threads: Mapping[int, int] | None = None):
        self.path, self.threads, self.delegates = Path(path), threads, tuple(delegates)
        self.batch_threads = dict(batch_threads or {})
        self._by_batch: dict[int, BoundInterpreter] = {}
        it, ins, outs = self._open(None)
        self.input_names, self.output_names = tuple(ins), tuple(outs)
        first = next(d for d in it.get_input_details() if d["index"] == ins[self.input_names[0]])
        batch = int(first["shape"][0])  # as converted (decoder: 1)
        if self.batch_threads.get(batch, threads) == threads:  # else bind() opens it with its own count
            self._by_batch[batch] = BoundInterpreter(it, ins, outs)

    def _open(self, batch: int | None):
        try:
            it = make_interpreter(self.path, self.batch_threads.get(batch, self.threads), self.delegates)
        except ValueError as e:
            raise BundleError(f"{self.path}: TFLite could not load the model ({e})") from e
        sigs = it.get_signature_list()
        if not sigs:
            raise BundleError(f"{self.path}: the model has no signature; convert it with `python -m convert`")
        runner = it.get_signature_runner(next(iter(sigs)))
        ins, outs = runner.get_input_details(), runner.get_output_details()
        outs = {n: d["index"] for n, d in outs.items()}  # run() only needs the index
        del runner  # it holds views into the interpreter, which would forbid resizing
        if batch is not None:
            for d in ins.values():
                if d["shape_signature"][0] == -1 and d["shape"][0] != batch:
                    it.resize_tensor_input(d["index"], [batch, *d["shape"][1:]])
            it.allocate_tensors()
        return it, {n: d["index"] for n, d in ins.items()}, outs

    def bind(self, batch: int) -> BoundInterpreter:
        """The interpreter for this batch size (made on first use)."""
        b = self._by_batch.get(batch)
        if b is None:
            b = self._by_batch[batch] = BoundInterpreter(*self._open(batch))
        return b

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        b = self.bind(len(next(iter(inputs.values()))))
        b.owner = None  # every input is set here: no earlier owner's constant inputs are left
        for name, arr in inputs.items():
            b.set(name, arr)
        b.invoke()
        return {n: b.get(n) for n in self.output_names}

    def close(self) -> None:
        self._by_batch.clear()  # idempotent: interpreters are freed with their last reference
