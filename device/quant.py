"""Tiny pure adapters between float tensors and quantised model tensors.

TFLite's affine quantisation:  real = scale * (q - zero_point),  q = round(real / scale) + zero_point,
clipped to the integer type's range. Models quantised separately (encoder, decoder) have different
scales, so tensors passed between them are dequantised and re-quantised here, once per call.
"""
from __future__ import annotations

import functools

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


def is_8bit(dtype: np.dtype, scale: float) -> bool:
    return np.dtype(dtype).itemsize == 1 and np.dtype(dtype).kind in "iu" and bool(scale)


def _codes(dtype: np.dtype) -> np.ndarray:
    """All 256 values of an 8-bit dtype, in the order of their bytes read as uint8 (the table index)."""
    return np.arange(256, dtype=np.uint8).view(np.dtype(dtype))


def _identity(q):
    return q


_identity.identity = True  # callers may skip it


@functools.lru_cache(maxsize=64)  # pure, and built for the same few tensor pairs on every caption
def converter(src: tuple, dst: tuple):
    """A function taking a tensor quantised as src = (scale, zero_point, dtype) to one quantised as
    dst (a float dtype, scale 0, means not quantised). Between 8-bit tensors it is one lookup in a
    256-entry table, equal to dequantize-then-quantize: real = s_src * (q - z_src),
    q' = round(real / s_dst) + z_dst; when both parameter sets are equal it is the identity.
    Used per decoder step, where the arithmetic of the general path would cost more than the model."""
    (s_scale, s_zero, s_type), (d_scale, d_zero, d_type) = src, dst
    s_type, d_type = np.dtype(s_type), np.dtype(d_type)
    if not is_8bit(s_type, s_scale):
        return lambda x: quantize(x, d_scale, d_zero, d_type)
    if s_type == d_type and np.isclose(s_scale, d_scale, rtol=1e-5, atol=0) and s_zero == d_zero:
        return _identity
    real = dequantize(_codes(s_type), s_scale, s_zero)  # [256] float32
    table = quantize(real, d_scale, d_zero, d_type)  # [256] in dst's dtype (float32 when dst is float)
    return lambda q: table.take(np.asarray(q, s_type).view(np.uint8))


@functools.lru_cache(maxsize=16)
def log_softmax_table(src: tuple) -> tuple[np.ndarray, np.ndarray]:
    """For an 8-bit logits tensor quantised as src: (rel, ex), both [256] float64 indexed by the
    code's byte, with rel = real - largest representable real and ex = exp(rel), so that
    log_softmax(logits)[n] = rel[q_n] - log(sum_j ex[q_j]) without dequantising the row (the max
    shift cancels; float64 keeps exp(rel) above underflow for any sane scale)."""
    scale, zero, dtype = src
    real = dequantize(_codes(np.dtype(dtype)), scale, zero).astype(np.float64)
    rel = real - real.max()
    return rel, np.exp(rel)
