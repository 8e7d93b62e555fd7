"""Least-error activation ranges, on a small model with rare extremes inside, converted in the test:
the narrowed tensors really are closer to the float model's inside the int8 model, the consumers'
biases follow the new scales, and the model's interface (input and output quantisation) is untouched."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def heavy_tailed_model():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inp = keras.Input((32,), name="x")
    h = keras.layers.Dense(64, name="pre")(inp)
    h = keras.layers.Multiply()([h, h, h])  # a cube: mostly small, now and then ~10x larger
    h = keras.layers.Dense(48, activation="relu", name="expand")(h)
    model = keras.Model(inp, keras.layers.Dense(8, name="head")(h))
    for layer in model.layers:  # non-zero biases, or the converter drops them and the rescale goes untested
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 1.0, layer.bias.shape).astype(np.float32))
    calibration = rng.normal(size=(200, 32)).astype(np.float32)

    def convert(int8: bool) -> bytes:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if int8:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([c[None]] for c in calibration)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return conv.convert()

    return convert(True), convert(False), calibration, rng.normal(size=(300, 32)).astype(np.float32)


def _errors(content: bytes, float_content: bytes, inputs, names=()) -> dict:
    """Mean squared int8-vs-float error of the output ("out") and of the named inner tensors."""
    from device.backends.litert import make_interpreter

    q, f = its = [make_interpreter(c, xnnpack=False, keep_all=True) for c in (content, float_content)]
    qidx = {d["name"]: d for d in q.get_tensor_details()}
    fidx = {d["name"]: d["index"] for d in f.get_tensor_details()}
    sums = {n: 0.0 for n in ("out", *names)}
    for x in inputs:
        for it in its:
            it.set_tensor(it.get_input_details()[0]["index"], x[None])
            it.invoke()
        sums["out"] += np.mean(
            (q.get_tensor(q.get_output_details()[0]["index"]) - f.get_tensor(f.get_output_details()[0]["index"])) ** 2
        )
        for n in names:
            s, z = qidx[n]["quantization"]
            got = s * (q.get_tensor(qidx[n]["index"]).astype(np.float64) - z)
            sums[n] += np.mean((got - f.get_tensor(fidx[n])) ** 2)
    return {n: v / len(inputs) for n, v in sums.items()}


def _tune(tmp_path, int8, float_content, calibration):
    from convert.mse_ranges import tune_ranges

    path = tmp_path / "m.tflite"
    path.write_bytes(int8)
    chosen = tune_ranges(path, float_content, ({"x": c[None]} for c in calibration))
    return path.read_bytes(), chosen


def test_narrowed_tensors_are_closer_to_float_inside_the_int8_model(heavy_tailed_model, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    int8, float_content, calibration, held_out = heavy_tailed_model
    tuned, chosen = _tune(tmp_path, int8, float_content, calibration)
    assert chosen and all(0 < a < 1 for a in chosen.values()), chosen
    before = _errors(int8, float_content, held_out, chosen)
    after = _errors(tuned, float_content, held_out, chosen)
    for name in ("out", *chosen):
        assert after[name] < before[name], (name, after[name], before[name])
    a, b = Interpreter(model_content=int8), Interpreter(model_content=tuned)
    for get in ("get_input_details", "get_output_details"):
        assert [t["quantization"] for t in getattr(a, get)()] == [t["quantization"] for t in getattr(b, get)()]


def _biases(content: bytes) -> dict:
    """{bias tensor name: (its real values, its per-channel scales)} of every op with an int32 bias."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content)
    it.allocate_tensors()
    out = {}
    for d in it.get_tensor_details():
        if d["dtype"] == np.int32 and len(d["quantization_parameters"]["scales"]):
            scales = d["quantization_parameters"]["scales"]
            out[d["name"]] = (it.get_tensor(d["index"]) * scales, scales)
    return out


def test_biases_follow_the_new_input_scale(heavy_tailed_model, tmp_path, monkeypatch):
    import convert.mse_ranges as mse

    int8, float_content, calibration, held_out = heavy_tailed_model
    # widen every free range by half: nothing is clipped, the steps are only coarser
    monkeypatch.setattr(mse, "SHRINKS", np.array([1.5, 1.5]))
    widened, chosen = _tune(tmp_path, int8, float_content, calibration)
    assert len(chosen) >= 3
    old, new = _biases(int8), _biases(widened)
    changed = [n for n in old if not np.array_equal(old[n][1], new[n][1])]
    assert changed, "no bias was re-expressed"
    for n in changed:  # the same real biases, to within half a step of the new (coarser) bias grid
        assert np.all(np.abs(new[n][0] - old[n][0]) <= 0.5 * new[n][1] * (1 + 1e-5)), n
    # and they matter: the same widening with the biases left in their old units is far worse
    free = mse.free_tensors
    monkeypatch.setattr(mse, "free_tensors", lambda it: {x: [] for x in free(it)})
    unfixed, _ = _tune(tmp_path, int8, float_content, calibration)
    good, bad = _errors(widened, float_content, held_out)["out"], _errors(unfixed, float_content, held_out)["out"]
    assert good < 0.5 * bad, (good, bad)


def test_grid_keeps_zero_and_spans_the_range():
    from convert.mse_ranges import grid

    for lo, hi in [(-3.0, 5.0), (0.0, 6.0), (-40.0, 2.0), (0.5, 4.0)]:
        scale, zp = grid(lo, hi)
        assert -128 <= zp <= 127
        assert scale * (127 - zp) >= hi - scale / 2 and scale * (-128 - zp) <= min(lo, 0.0) + scale / 2
