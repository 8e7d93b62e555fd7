"""The device runtime on a real int8 bundle converted in this session."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from device.bundle import load_bundle
from device.captioner import Captioner
from device.errors import BackendUnavailableError, BundleError, BundleMissingError, ConfigError
from device.preprocess import preprocess_file

from .conftest import ROOT


def _copy(bundle, tmp_path):
    import shutil
    dst = tmp_path / "b"
    shutil.copytree(bundle, dst)
    return dst


def test_bundle_manifest_is_complete_and_int8(bundle):
    b = load_bundle(bundle)
    m = b.manifest
    assert m["schema_version"] == 1 and m["quantization"] == "int8"
    assert set(m["files"]) >= {"encoder.tflite", "decoder.tflite", "vocab.json"}
    assert b.encoder.inputs["image"].dtype == "uint8"
    assert set(b.decoder.inputs) == {"token", "h", "c", "features", "keys"}
    assert set(b.decoder.outputs) == {"logits", "h_next", "c_next", "alpha"}
    assert b.decoder.inputs["h"].dtype == "int8" and b.decoder.inputs["h"].scale > 0
    assert b.decoder.inputs["token"].dtype == "int32"
    for n in ("h", "c"):  # tied by the converter: the state passes from step to step without re-quantising
        i, o = b.decoder.inputs[n], b.decoder.outputs[n + "_next"]
        assert (i.scale, i.zero_point) == (o.scale, o.zero_point)
    assert m["converter"]["seesay_version"] and m["search"]["beam"] == 3
    report = json.loads((bundle / "report.json").read_text())
    assert (bundle / "report.md").is_file() and report["images"] > 0
    halves = report["identical_by_half"]  # which half of the model the disagreement comes from
    assert set(halves) == {"bundle_encoder_float_decoder", "float_encoder_bundle_decoder"}
    assert all(0.0 <= v <= 1.0 for v in halves.values()) and "only one half quantised" in (bundle / "report.md").read_text()
    lo, hi = report["identical_captions_95ci"]
    assert lo <= report["identical_captions"] <= hi and "95% interval" in (bundle / "report.md").read_text()


def test_flipped_byte_truncated_and_missing_files_are_refused(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    data = bytearray((b / "decoder.tflite").read_bytes())
    data[len(data) // 2] ^= 0x01
    (b / "decoder.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="decoder.tflite fails its checksum"):
        load_bundle(b)
    (b / "decoder.tflite").write_bytes(bytes(data[:100]))
    with pytest.raises(BundleError, match="decoder.tflite"):
        load_bundle(b)
    (b / "decoder.tflite").unlink()
    with pytest.raises(BundleMissingError, match="decoder.tflite is missing"):
        load_bundle(b)
    with pytest.raises(BundleMissingError, match="no such folder"):
        load_bundle(tmp_path / "nowhere")


def test_schema_version_mismatch_is_explained(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    m["schema_version"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="schema version 99"):
        load_bundle(b)


def test_caption_greedy_and_beam_return_words_attention_and_timings(bundle, scenes):
    img = next((scenes.parent / "images").glob("*.jpg"))
    with Captioner(bundle) as cap:
        px = preprocess_file(img, cap.bundle.image_size)
        for beam in (1, 3):
            c = cap.caption(px, beam=beam)
            assert c.text and all(0 <= t < len(cap.vocab) for t in c.tokens)
            grid = cap.bundle.image_size // 32
            assert c.attention.shape == (len(c.tokens), grid * grid)
            assert np.allclose(c.attention.sum(1), 1.0, atol=0.05)  # int8 softmax: still a distribution
            assert {"encoder", "decoder", "search", "total"} <= set(c.timings_ms)
        with pytest.raises(Exception, match="uint8"):
            cap.caption(px.astype(np.float32))


def test_table_hand_over_gives_the_captions_of_plain_dequantise_requantise(bundle, scenes):
    """The step keeps integer codes between steps (table lookups); a step written the long way,
    every tensor dequantised to float and quantised again, must produce the same token ids."""
    from device.quant import dequantize, quantize
    from device.search import search

    def q(spec, x):
        return quantize(x, spec.scale, spec.zero_point, np.dtype(spec.dtype))

    def dq(spec, x):
        return dequantize(x, spec.scale, spec.zero_point)

    with Captioner(bundle) as cap:
        b = cap.bundle
        di, do = b.decoder.inputs, b.decoder.outputs
        for img in sorted((scenes.parent / "images").glob("*.jpg"))[:4]:
            px = preprocess_file(img, b.image_size)
            enc = cap.encode(px)  # float

            def step(tokens, state):
                n = len(tokens)
                ins = {"token": np.asarray(tokens, np.int32), **{k: q(di[k], v) for k, v in state.items()},
                       "features": q(di["features"], np.repeat(enc["features"], n, 0)),
                       "keys": q(di["keys"], np.repeat(enc["keys"], n, 0))}
                out = cap.decoder.run(ins)
                return (dq(do["logits"], out["logits"]), {k: dq(do[k + "_next"], out[k + "_next"]) for k in state},
                        dq(do["alpha"], out["alpha"]))

            for beam in (1, 3):
                ref = search(step, {k: enc[k] for k in b.state_names}, cap.vocab.start_id, cap.vocab.end_id,
                             beam=beam, max_len=cap.max_len, length_penalty=cap.length_penalty)
                got = cap.caption(px, beam=beam)
                assert got.tokens == ref.tokens
                assert np.allclose(got.token_logprobs, ref.token_logprobs, atol=1e-5)


def test_steps_of_two_images_interleaved_on_one_decoder_keep_their_own_features(bundle, scenes):
    """A step sets its image's features into the shared interpreter once, not on every call: steps
    of two images, alternating, must each see their own image and give what a plain run gives."""
    with Captioner(bundle) as cap:
        raw = cap.encode_raw(preprocess_file(sorted((scenes.parent / "images").glob("*.jpg"))[0], cap.bundle.image_size))
        rng = np.random.default_rng(0)  # a second "image" whose codes are noise: unlike any real one
        noise = {n: rng.integers(-128, 128, v.shape).astype(v.dtype) if n in ("features", "keys") else v for n, v in raw.items()}
        steps = [cap.step_for(raw), cap.step_for(noise)]
        for batch in (1, 3):
            tokens = [np.full(batch, cap.vocab.start_id, np.int32), np.full(batch, 4, np.int32), np.full(batch, 5, np.int32)]
            got = [[], []]
            states = [{n: np.repeat(v, batch, 0) for n, v in s.init_state.items()} for s in steps]
            for tok in tokens:  # the two images alternate on the one interpreter of this batch size
                for i, s in enumerate(steps):
                    logits, states[i], alpha = s(tok, states[i])
                    m = cap.decoder.bind(batch)
                    for n in ("features", "keys"):
                        assert np.array_equal(m.interpreter.get_tensor(m.inputs[n]), np.repeat(s.image_inputs[n], batch, 0))
                    got[i].append((logits, alpha, states[i]))
            for i, s in enumerate(steps):  # each image alone, the long way: every input set on every run
                state = {n: np.repeat(v, batch, 0) for n, v in s.init_state.items()}
                for tok, (logits, alpha, new) in zip(tokens, got[i]):
                    ref = cap.decoder.run({"token": tok, **state,
                                           **{n: np.repeat(v, batch, 0) for n, v in s.image_inputs.items()}})
                    state = {n: ref[n + "_next"] for n in state}
                    assert np.array_equal(logits, s.plan.logits(ref["logits"])) and np.array_equal(alpha, s.plan.alpha(ref["alpha"]))
                    assert all(np.array_equal(new[n], state[n]) for n in state)


class Plain:
    """A step without its own pick/settle: what device.search does with a float step."""

    def __init__(self, step):
        self.step = step

    def __call__(self, tokens, state):
        return self.step(tokens, state)


def test_int8_greedy_pick_equals_the_float_pick_also_when_the_best_word_is_banned(bundle, scenes):
    from device.search import pick_best

    with Captioner(bundle) as cap:
        px = preprocess_file(sorted((scenes.parent / "images").glob("*.jpg"))[0], cap.bundle.image_size)
        step = cap.step_for(cap.encode_raw(px))
        assert hasattr(step, "settle"), "an int8 bundle's step should pick on the codes"
        tok = np.array([cap.vocab.start_id], np.int32)
        best = pick_best(Plain(step), tok, step.init_state, ())[0]
        for banned in ((), (best,), (0, 1, 3, best)):
            want = pick_best(Plain(step), tok, step.init_state, banned)
            nxt, state, rec = step.pick(tok, step.init_state, banned)
            (lp,), att = step.settle([rec], [nxt])
            assert nxt == want[0] and nxt not in banned and abs(lp - want[1]) < 1e-5
            assert all(np.array_equal(state[n], want[2][n]) for n in want[2]) and np.array_equal(att[0], want[3])


def test_int8_greedy_caption_equals_the_float_greedy_path(bundle, scenes):
    """search.greedy through CodeStep.pick/settle (log p settled after the last word) against the
    same step driven through pick_best one word at a time."""
    from device.search import greedy

    with Captioner(bundle) as cap:
        v = cap.vocab
        for f in sorted((scenes.parent / "images").glob("*.jpg"))[:6]:
            step = cap.step_for(cap.encode_raw(preprocess_file(f, cap.bundle.image_size)))
            for max_len in (1, 3, 20):
                got = greedy(step, step.init_state, v.start_id, v.end_id, max_len)
                want = greedy(Plain(step), step.init_state, v.start_id, v.end_id, max_len)
                assert got.tokens == want.tokens and got.finished == want.finished
                assert np.allclose(got.token_logprobs, want.token_logprobs, atol=1e-5)
                assert got.attention.shape == want.attention.shape == (len(want.tokens), want.attention.shape[1])
                assert np.array_equal(got.attention, want.attention)


def test_missing_runtimes_are_named(bundle):
    with pytest.raises(BackendUnavailableError, match="libedgetpu|Edge TPU|edgetpu"):
        from device.backends.edgetpu import load_edgetpu_delegate
        load_edgetpu_delegate()
    with pytest.raises(BackendUnavailableError, match="tensorrt"):
        from device.backends import load_model
        load_model("tensorrt", bundle / "encoder.engine")
    with pytest.raises(ConfigError, match="unknown backend"):
        from device.backends import load_model
        load_model("gpu9000", bundle / "encoder.tflite")


def test_device_never_imports_tensorflow():
    code = ("import sys, pkgutil, importlib, device\n"
            "for m in pkgutil.walk_packages(device.__path__, 'device.'):\n"
            "    importlib.import_module(m.name)\n"
            "assert 'tensorflow' not in sys.modules, 'device imported tensorflow'\n"
            "assert 'keras' not in sys.modules\n"
            "print('ok', len(sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr


def test_caption_cli_json_wav_and_attention(bundle, scenes, tmp_path, corrupt_jpeg):
    img = next((scenes.parent / "images").glob("*.jpg"))
    wav, att = tmp_path / "say.wav", tmp_path / "att.png"
    r = subprocess.run([sys.executable, "-m", "device", "caption", str(img), "--bundle", str(bundle), "--json",
                        "--wav", str(wav), "--attention", str(att)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[0])
    assert out["caption"] and out["timings_ms"]["total"] > 0
    assert wav.stat().st_size > 10000 and att.stat().st_size > 1000
    r = subprocess.run([sys.executable, "-m", "device", "caption", str(corrupt_jpeg), "--bundle", str(bundle)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "corrupt.jpg" in r.stderr and "Traceback" not in r.stderr


def test_caption_cli_speak_without_a_working_speaker_prints_the_caption_and_fails(bundle, scenes, tmp_path):
    """The speaker is the hardware edge: an `aplay` that fails as it does on a machine with no sound card."""
    img = next((scenes.parent / "images").glob("*.jpg"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aplay = bin_dir / "aplay"
    aplay.write_text("#!/bin/sh\necho 'ALSA lib pcm.c:2666: Unknown PCM default' >&2\n"
                     "echo 'aplay: main:831: audio open error: No such file or directory' >&2\nexit 1\n")
    aplay.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    r = subprocess.run([sys.executable, "-m", "device", "caption", str(img), "--bundle", str(bundle), "--speak"],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith(str(img)) and len(r.stdout.split(":", 1)[1].split()) >= 2  # the caption is not lost
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert errors == ["error: could not speak: audio output failed: aplay: main:831: audio open error: "
                      "No such file or directory; check the speaker (aplay -l)"], r.stderr


def test_a_decoder_without_bind_captions_like_the_bound_one(bundle, scenes):
    """A backend that takes every input on every call (a TensorRT engine's run()) goes through
    BundleStep's other path: same tokens, log p and attention as the bound TFLite interpreter."""
    from device.search import search

    class RunOnly:  # the bundle's own decoder, seen through run() alone
        def __init__(self, model):
            self.run = model.run

    with Captioner(bundle) as cap:
        v = cap.vocab
        for f in sorted((scenes.parent / "images").glob("*.jpg"))[:4]:
            raw = cap.encode_raw(preprocess_file(f, cap.bundle.image_size))
            bound = cap.step_for(raw)
            plain = type(bound)(RunOnly(cap.decoder), bound.plan, raw)
            for beam in (1, 3):
                a = search(bound, bound.init_state, v.start_id, v.end_id, beam=beam, max_len=cap.max_len)
                b = search(plain, plain.init_state, v.start_id, v.end_id, beam=beam, max_len=cap.max_len)
                assert a.tokens == b.tokens and a.token_logprobs == b.token_logprobs
                assert np.array_equal(a.attention, b.attention)
            assert plain.steps > 0 and plain.invoke_s > 0


def test_decoder_threads_set_per_batch_size_compute_the_same(bundle, scenes):
    """batch_threads gives one batch size's interpreter its own thread count (the Captioner's second
    greedy decoder runs batch 1 on the configured threads): a worker thread appears only when that
    interpreter is made, and every output equals the single-threaded decoder's, bit for bit."""
    import os
    from device.backends.tflite_cpu import TFLiteModel

    def os_threads():
        return len(os.listdir("/proc/self/task"))

    with Captioner(bundle) as cap:
        path = cap.bundle.file(cap.bundle.decoder.file)
        raw = cap.encode_raw(preprocess_file(sorted((scenes.parent / "images").glob("*.jpg"))[0], cap.bundle.image_size))
        step = cap.step_for(raw)
        plain = TFLiteModel(path, threads=1)
        before = os_threads()
        split = TFLiteModel(path, threads=1, batch_threads={1: 2})
        assert os_threads() == before  # the converted batch-1 interpreter was not kept on 1 thread
        split.bind(3)
        assert os_threads() == before  # beams: one thread, no worker
        split.bind(1)
        assert os_threads() == before + 1  # greedy: two threads, one worker
        for b in (1, 3):
            ins = {**{n: np.repeat(v, b, 0) for n, v in {**step.image_inputs, **step.init_state}.items()},
                   "token": np.full(b, cap.vocab.start_id, np.int32)}
            want, got = plain.run(ins), split.run(ins)
            assert all(np.array_equal(want[n], got[n]) for n in want)


def test_faster_of_tries_each_keeps_the_cheaper_and_notices_changes_both_ways():
    from device.faster_of import FasterOf
    f = FasterOf([1, 2], retry_every=4, smoothing=0.5)
    picks = []

    def run(n, cost):
        for _ in range(n):
            o = f.pick()
            picks.append(o)
            f.record(o, cost[o])
    run(10, {1: 30.0, 2: 22.0})
    assert picks == [1, 2, 2, 1, 2, 2, 2, 1, 2, 2]  # each tried once, then the cheaper; every 4th pick a retry
    del picks[:]
    run(8, {1: 30.0, 2: 41.0})  # picks 11-18: the incumbent slows down (the other core got busy)
    assert picks == [2, 2, 1, 1, 1, 2, 1, 1]  # one slow caption switches; 2 then runs only at retries (12, 16)
    del picks[:]
    run(8, {1: 30.0, 2: 22.0})  # picks 19-26: 2 is fast again, which only its retries can see
    assert picks == [1, 2, 2, 2, 2, 1, 2, 2]  # back at the first retry (20): a retried cost is not averaged
    del picks[:]
    run(2, {1: 30.0, 2: 22.0})  # picks 27-34: one disturbed caption of the incumbent (29) ...
    run(1, {1: 30.0, 2: 240.0})
    run(5, {1: 30.0, 2: 22.0})
    assert picks == [2, 1, 2, 1, 1, 2, 2, 2]  # ... costs only the picks until 2's next retry (32)
    assert sum(f.picks.values()) == 34
    with pytest.raises(ValueError):
        FasterOf([])


def test_greedy_decoder_threads_are_chosen_by_speed_and_never_change_the_caption(bundle, scenes):
    files = sorted((scenes.parent / "images").glob("*.jpg"))[:4]
    with Captioner(bundle, threads=1) as one, Captioner(bundle, threads=2) as two:
        assert one.greedy_threads.options == (1,) and two.greedy_threads.options == (1, 2)
        two.greedy_threads.retry_every = 2  # the slower one gets every other caption: both run here
        for f in files * 3:
            px = preprocess_file(f, one.bundle.image_size)
            a, b = one.caption(px, beam=1), two.caption(px, beam=1)
            assert a.tokens == b.tokens and a.token_logprobs == b.token_logprobs
            assert np.array_equal(a.attention, b.attention)
        assert set(two.greedy_threads.picks) == {1, 2}
        assert all(c is not None and c > 0 for c in two.greedy_threads.cost.values())
        n = sum(two.greedy_threads.picks.values())
        two.caption(px, beam=3)
        assert sum(two.greedy_threads.picks.values()) == n  # beams do not take part
