"""The float Keras decoder as a device.search step, so the float model is searched by the very code
the device runs on the int8 bundle."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .model import decoder_inputs


def encode_one(encoder, px: np.ndarray) -> dict:
    """The float encoder's outputs for one uint8 image [S,S,3], as numpy arrays with batch 1."""
    return {k: np.asarray(v) for k, v in encoder(px[None].astype(np.float32), training=False).items()}


class KerasCaptioner:
    """Wraps (encoder or head, decoder step) for device.search."""

    def __init__(self, decoder, state_names: tuple[str, ...]):
        self.state_names = state_names
        self._call = tf.function(lambda xs: decoder(xs, training=False), reduce_retracing=True)

    def context(self, enc_out: dict) -> tuple[dict, "KerasStep"]:
        """Encoder outputs of one image -> (initial state, step bound to that image)."""
        init = {n: np.asarray(enc_out[n], np.float32) for n in self.state_names}
        return init, KerasStep(
            self, np.asarray(enc_out["features"], np.float32), np.asarray(enc_out["keys"], np.float32)
        )


class KerasStep:
    def __init__(self, owner: KerasCaptioner, features: np.ndarray, keys: np.ndarray):
        self.owner, self.features, self.keys = owner, features, keys  # [1,P,D], [1,P,A]
        self._tiled: dict[int, tuple] = {}

    def __call__(self, tokens, state):
        b = len(tokens)
        if b not in self._tiled:
            self._tiled[b] = (np.repeat(self.features, b, 0), np.repeat(self.keys, b, 0))
        f, k = self._tiled[b]
        named = {
            "token": tf.constant(tokens, tf.int32),
            "features": tf.constant(f),
            "keys": tf.constant(k),
            **{n: tf.constant(state[n]) for n in self.owner.state_names},
        }
        out = self.owner._call([named[n] for n in decoder_inputs(self.owner.state_names)])
        new = {n: out[n].numpy() for n in self.owner.state_names}
        return out["logits"].numpy(), new, out["alpha"].numpy()
