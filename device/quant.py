"""Tiny pure adapters between float tensors and quantised model tensors.

TFLite's affine quantisation:  real = scale * (q - zero_point),  q = round(real / scale) + zero_point,
clipped to the integer type's range. Models quantised separately (encoder, decoder) have different
scales, so tensors passed between them are dequantised and re-quantised here, once per call.
"""

from __future__ import annotations

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float -> integer tensor of dtype (int8/uint8/int16); identity cast for float dtypes."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or not scale:
        return np.asarray(x).astype(dtype, copy=False)
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float32) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor -> float32; float tensors pass through as float32."""
    q = np.asarray(q)
    if q.dtype.kind == "f" or not scale:
        return q.astype(np.float32, copy=False)
    return (scale * (q.astype(np.float32) - zero_point)).astype(np.float32)


def round_to_grid(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """x quantised and dequantised again: the float value each element takes on the tensor's grid,
    clipping included (what int8 costs a float tensor; float dtypes pass unchanged)."""
    return dequantize(quantize(x, scale, zero_point, dtype), scale, zero_point)


def requantize(q: np.ndarray, src: tuple, dst: tuple) -> np.ndarray:
    """A tensor quantised as src = (scale, zero_point, dtype) re-expressed as dst (a float dtype or
    scale 0 means not quantised). Equal parameters pass the codes through untouched, so a decoder
    state whose input shares its output's quantisation goes from step to step bit for bit."""
    if src[0] == dst[0] and src[1] == dst[1] and np.dtype(src[2]) == np.dtype(dst[2]):
        return q
    return quantize(dequantize(q, src[0], src[1]), dst[0], dst[1], np.dtype(dst[2]))
