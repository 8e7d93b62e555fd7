"""Activation ranges chosen for the least int8 error, not the widest value seen.

The TFLite calibrator gives each activation tensor the min..max it saw. MobileNetV2's linear
bottlenecks have rare extremes ~10x their RMS (e.g. +-40 for an RMS of 3), so most of the 256 int8
levels cover values that almost never occur and the common ones are rounded coarsely; the errors add
up block after block (the encoder's features: 14.8% RMS error against the float32 model). For every
activation tensor whose producer and consumers derive their integer arithmetic from the tensor's
(scale, zero point) when the model is loaded, this picks the range, a shrink of the calibrated one,
that minimises rounding + clipping error over the calibration data (the float values come from the
float32 conversion of the same function), and rewrites the .tflite:
    scale = (hi - lo) / 255,  zero_point = round(-128 - lo / scale)
The int32 biases of the consumers that read the tensor as their input are stored in units of
input_scale * weight_scale, so they are re-expressed in the new input scale. Model inputs, outputs and
tensors tied to another's scale (reshapes, splits, gathers, softmax/tanh/logistic outputs) keep
theirs, so the bundle's interface and the device code do not change."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import numpy as np

from device.backends.litert import make_interpreter
from device.quant import round_to_grid

log = logging.getLogger("seesay.mse_ranges")

# ops whose int8 output range is free: they rescale to it with multipliers computed at load time
PRODUCERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "SUM", "MEAN"}
# ops that accept any input range, for the same reason (tanh/logistic build their tables from it)
CONSUMERS = PRODUCERS | {"TANH", "LOGISTIC"}
# ops whose int32 bias (input 2) is in units of input scale x weight scale
WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
SHRINKS = np.linspace(0.25, 1.0, 16)  # fractions of the calibrated range tried; 1.0 keeps it
SAMPLE = 1 << 16  # values per tensor per feed: enough for an error estimate, cheap for 112x112x96 maps


def free_tensors(it) -> dict[int, list[dict]]:
    """{int8 tensor index: the ops that take it as input 0 and carry a bias} for every tensor whose
    range can change without touching anything but those biases."""
    ops = it._get_ops_details()
    tensors = it.get_tensor_details()
    readers: dict[int, list[dict]] = {}
    for op in ops:
        for i in op["inputs"]:
            readers.setdefault(i, []).append(op)
    fixed = {d["index"] for d in it.get_input_details()} | {d["index"] for d in it.get_output_details()}
    free = {}
    for op in ops:
        if op["op_name"] not in PRODUCERS:
            continue
        x = op["outputs"][0]
        users = readers.get(x, [])
        if (
            x in fixed
            or not users
            or tensors[x]["dtype"] != np.int8
            or any(u["op_name"] not in CONSUMERS for u in users)
        ):
            continue
        free[x] = [
            u
            for u in users
            if u["op_name"] in WEIGHTED and u["inputs"][0] == x and len(u["inputs"]) > 2 and u["inputs"][2] >= 0
        ]
    return free


def grid(lo: float, hi: float) -> tuple[float, int]:
    """int8 (scale, zero point) spanning [lo, hi]; 0 is always on the grid."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(np.round(-128 - lo / scale), -128, 127))


def rounding_error(x: np.ndarray, scale: float, zero_point: int) -> float:
    """Sum of squared int8 rounding and clipping errors of x on the grid."""
    return float(np.sum((round_to_grid(x, scale, zero_point, np.int8) - x) ** 2))


def tune_ranges(path: Path, float_content: bytes, feeds: Iterable[dict]) -> dict[str, float]:
    """Rewrite the int8 model at path in place; feeds are the float model's signature inputs.
    -> {tensor name: chosen fraction of its calibrated range} for the tensors that changed."""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    # no XNNPACK in either: it would swallow the intermediate tensors we read and the ops we inspect
    qit = make_interpreter(Path(path).read_bytes(), xnnpack=False)
    qt = qit.get_tensor_details()
    fit = make_interpreter(float_content, xnnpack=False, keep_all=True)
    float_index = {d["name"]: d["index"] for d in fit.get_tensor_details()}
    free = {x: users for x, users in free_tensors(qit).items() if qt[x]["name"] in float_index}
    grids, picks = {}, {}
    rng = np.random.default_rng(0)
    for x in free:
        s, z = qt[x]["quantization"]
        lo, hi = (-128 - z) * s, (127 - z) * s  # the calibrated range
        grids[x] = [grid(lo * a, hi * a) for a in SHRINKS.tolist()]
        size = int(np.prod(qt[x]["shape"]))
        picks[x] = rng.choice(size, SAMPLE, replace=False) if size > SAMPLE else slice(None)
    errors = {x: np.zeros(len(SHRINKS)) for x in free}
    run = fit.get_signature_runner()
    for feed in feeds:
        run(**feed)
        for x in free:
            values = fit.get_tensor(float_index[qt[x]["name"]]).ravel()[picks[x]]
            errors[x] += [rounding_error(values, *g) for g in grids[x]]
    model = fb.read_model(str(path))
    tensors = model.subgraphs[0].tensors
    chosen = {}
    for x, users in free.items():
        k = int(np.argmin(errors[x]))
        if SHRINKS[k] == 1.0:
            continue
        old = float(tensors[x].quantization.scale[0])
        scale, zero_point = grids[x][k]
        tensors[x].quantization.scale, tensors[x].quantization.zeroPoint = [scale], [zero_point]
        for op in users:
            bias = tensors[op["inputs"][2]]
            data = model.buffers[bias.buffer]
            values = np.frombuffer(bytes(data.data), np.int32).astype(np.float64) * (old / scale)
            # saturate as the converter does: a channel with ~zero weights has a tiny bias scale and
            # a bias already at the int32 limit, which a wider rescale would overflow into garbage
            values = np.clip(np.round(values), np.iinfo(np.int32).min, np.iinfo(np.int32).max)
            data.data = np.frombuffer(values.astype(np.int32).tobytes(), np.uint8)
            bias.quantization.scale = [s * scale / old for s in bias.quantization.scale]
        chosen[qt[x]["name"]] = float(SHRINKS[k])
    fb.write_model(model, str(path))
    log.info(
        "%s: %d of %d free activation ranges narrowed for the least int8 error", Path(path).name, len(chosen), len(free)
    )
    return chosen
