"""The decoder step as exported for TFLite: the same float function as the Keras step, and in int8
without the concatenation that squeezed the word embedding onto the context's grid."""

import numpy as np
import pytest

from .conftest import TINY_MODEL


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_split_step_is_the_keras_step(cell):
    from convert.split_step import split_step
    from training.config import ModelConfig
    from training.model import build_decoder_step

    cfg = ModelConfig(**{**TINY_MODEL, "vocab_size": 50, "cell": cell})
    decoder = build_decoder_step(cfg)
    rng = np.random.default_rng(1)
    for w in decoder.weights:  # random biases too, so a bias or gate-order slip shows
        w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    b, p = 3, cfg.grid * cfg.grid
    token = rng.integers(0, cfg.vocab_size, b).astype(np.int32)
    states = [np.tanh(rng.normal(size=(b, cfg.hidden_dim))).astype(np.float32) for _ in cfg.state_names]
    features = np.abs(rng.normal(size=(b, p, cfg.feature_dim))).astype(np.float32)
    keys = rng.normal(size=(b, p, cfg.attention_dim)).astype(np.float32)
    want = decoder([token, *states, features, keys], training=False)
    got = split_step(decoder, cfg)(token, *states, features, keys)
    assert set(got) == {"logits", "alpha", *cfg.state_names}
    for name in got:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), atol=2e-5, err_msg=name)
    # the comparison can fail: another previous word changes the logits
    other = split_step(decoder, cfg)((token + 1) % cfg.vocab_size, *states, features, keys)
    assert np.abs(np.asarray(other["logits"]) - np.asarray(want["logits"])).max() > 1e-2


def test_int8_decoder_keeps_the_embedding_on_its_own_grid(bundle):
    from device.backends.litert import make_interpreter

    it = make_interpreter(bundle / "decoder.tflite", xnnpack=False)  # every op and constant visible
    tensors = it.get_tensor_details()
    int8_ops = [op for op in it._get_ops_details() if tensors[op["outputs"][0]]["dtype"] == np.int8]
    names = {op["op_name"] for op in int8_ops}
    assert "CONCATENATION" not in names, names
    assert "FULLY_CONNECTED" in names and "GATHER" in names
    # the gathered embedding row is quantised with the table's own scale, which fits the table
    gather = next(op for op in int8_ops if op["op_name"] == "GATHER")
    table, row = tensors[gather["inputs"][0]], tensors[gather["outputs"][0]]
    scale = row["quantization_parameters"]["scales"][0]
    biggest = np.abs(
        it.get_tensor(table["index"]).astype(np.int32) - row["quantization_parameters"]["zero_points"][0]
    ).max()
    assert biggest >= 100, f"the embedding uses only {biggest} of 127 int8 steps (scale {scale})"


def test_int8_decoder_has_static_shapes(bundle):
    """No run-time shape arithmetic (Keras' Dense on 3-D scores, Embedding's index fix-up): those
    int32 ops are not XNNPACK's and cut the step into more delegate partitions, each a hand-over
    per word (Flickr8k model: four partitions before, two after)."""
    from device.backends.litert import make_interpreter

    ops = make_interpreter(bundle / "decoder.tflite", num_threads=1)._get_ops_details()
    names = {op["op_name"] for op in ops}
    assert not names & {"SHAPE", "REDUCE_PROD", "PACK", "LESS", "SELECT_V2"}, names
    assert "DELEGATE" in names, "XNNPACK took no part of the int8 step"
