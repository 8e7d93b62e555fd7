"""Short sounds so the wearer knows a press was heard, or that something failed.
Made in numpy: no sound files to ship."""

from __future__ import annotations

import numpy as np

RATE = 22050  # Hz, espeak-ng's native rate, so one player format serves both


def tone(freqs: list[float], ms: float, volume: float = 0.3, rate: int = RATE) -> np.ndarray:
    """Consecutive sine notes, each ms long, with 5 ms fades (no clicks). int16 mono."""
    out = []
    n = int(rate * ms / 1000)
    fade = min(n // 2, int(rate * 0.005))
    env = np.ones(n, np.float32)
    env[:fade] = np.linspace(0, 1, fade)
    env[n - fade :] = np.linspace(1, 0, fade)
    t = np.arange(n) / rate
    for f in freqs:
        out.append(np.sin(2 * np.pi * f * t) * env)
    return (np.concatenate(out) * volume * 32767).astype(np.int16)


EARCONS = {
    "heard": lambda: tone([880, 1320], 45),  # rising pair: press accepted
    "error": lambda: tone([440, 330], 90),  # falling pair: something is wrong
}
