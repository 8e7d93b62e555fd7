"""Tie each int8 decoder state input's quantisation to that of its state output.

The converter calibrates `h` (input) and `h_next` (output) separately, so their int8 grids differ a
little and the device would have to re-quantise the state between every two steps: a second
rounding per step that the float model never sees, plus the work. Giving the input tensor the
output's scale and zero point makes that hand-over the identity. It is sound because TFLite's int8
kernels derive their multipliers from the tensor parameters when the model is loaded, and because
h_next's calibrated range covers what h carries: the previous step's h_next, or the encoder's initial
state (a tanh in [-1, 1]), which is re-quantised once per caption."""

from __future__ import annotations

import logging
from pathlib import Path

from .conversion_errors import ConvertError

log = logging.getLogger("seesay.state_quant")


def tie_state_quantization(path: Path, state_names: tuple[str, ...]) -> dict:
    """Rewrite the .tflite at path in place; -> {state: (old (scale, zp), new (scale, zp))}."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    model = fb.read_model(str(path))
    sig = model.signatureDefs[0]
    ins = {t.name.decode(): t.tensorIndex for t in sig.inputs}
    outs = {t.name.decode(): t.tensorIndex for t in sig.outputs}
    tensors = model.subgraphs[sig.subgraphIndex].tensors
    changed = {}
    for n in state_names:
        if n not in ins or n + "_next" not in outs:
            raise ConvertError(f"{path.name}: no state pair {n} / {n}_next in the signature")
        qi, qo = tensors[ins[n]].quantization, tensors[outs[n + "_next"]].quantization
        if qi is None or qo is None or qi.scale is None or qo.scale is None:
            raise ConvertError(f"{path.name}: state {n} is not quantised")
        changed[n] = ((float(qi.scale[0]), int(qi.zeroPoint[0])), (float(qo.scale[0]), int(qo.zeroPoint[0])))
        qi.scale, qi.zeroPoint = list(qo.scale), list(qo.zeroPoint)
    fb.write_model(model, str(path))
    log.info("decoder state inputs now share their outputs' quantisation: %s", changed)
    return changed
