"""`python -m convert rounding`: how much of the int8/float disagreement the rounding of the
tensors between the models explains on its own.

The float Keras model is searched as in the check (device/ search code, the bundle's settings),
once as it is and once with each group of tensors rounded to the bundle's int8 grid
(quantise, then dequantise, with the bundle's own scale and zero point):
  image   the encoder's outputs (features, keys, initial state), once per image
  state   the recurrent state fed to every decoder step
  logits  the decoder's logits, every step
  all     the three together
What `all` leaves of the check's disagreement comes from int8 arithmetic inside the two models.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from device.quant import round_to_grid
from device.search import search
from training.float_step import KerasCaptioner, encode_one

from .check import held_out, load_pair, readable
from .conversion_errors import ConvertError

MODES = ("image", "state", "logits", "all")


def on_grid(x: np.ndarray, spec) -> np.ndarray:
    """x rounded to a tensor's int8 grid, as float32 (a float tensor, scale 0, passes unchanged)."""
    return round_to_grid(x, spec.scale, spec.zero_point, np.dtype(spec.dtype))


class RoundedStep:
    """A float step whose state inputs and/or logits are rounded to the bundle decoder's grids."""

    def __init__(self, step, decoder_spec, state: bool, logits: bool):
        self.step, self.spec, self.state, self.logits = step, decoder_spec, state, logits

    def __call__(self, tokens, state):
        if self.state:
            state = {n: on_grid(v, self.spec.inputs[n]) for n, v in state.items()}
        logits, new, alpha = self.step(tokens, state)
        return (on_grid(logits, self.spec.outputs["logits"]) if self.logits else logits), new, alpha


def rounding_agreement(
    checkpoint: str, bundle_dir: str, data: str | None = None, limit: int | None = None, beam: int | None = None
) -> dict:
    mcfg, vocab, encoder, decoder, meta, cap = load_pair(checkpoint, bundle_dir)
    b = cap.bundle
    opts = {"beam": beam or cap.beam, "max_len": cap.max_len, "length_penalty": cap.length_penalty}
    fcap = KerasCaptioner(decoder, mcfg.state_names)
    same, n = {m: 0 for m in MODES}, 0
    items = held_out(meta, data, limit)
    for _, px in tqdm(
        readable(items, mcfg.image_size, mcfg.geometry), total=len(items), desc="rounded float vs float", unit="img"
    ):
        enc = encode_one(encoder, px)
        init, step = fcap.context(enc)
        ref = search(step, init, vocab.start_id, vocab.end_id, **opts).tokens
        rounded_enc = {k: on_grid(v, b.encoder.outputs[k]) for k, v in enc.items()}
        for m in MODES:
            init, step = fcap.context(rounded_enc if m in ("image", "all") else enc)
            step = RoundedStep(step, b.decoder, state=m in ("state", "all"), logits=m in ("logits", "all"))
            same[m] += search(step, init, vocab.start_id, vocab.end_id, **opts).tokens == ref  # token ids
        n += 1
    if not n:
        raise ConvertError("no readable held-out images")
    return {"images": n, "beam": opts["beam"], "identical_when_rounded": {m: same[m] / n for m in MODES}}
