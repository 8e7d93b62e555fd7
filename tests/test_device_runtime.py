"""The device runtime on a real int8 bundle converted by the test session."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from device.bundle import load_bundle
from device.captioner import Captioner
from device.errors import BackendUnavailableError, BundleError, BundleMissingError, ConfigError, ImageError
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
    assert (
        all(0.0 <= v <= 1.0 for v in halves.values())
        and "only one half quantised" in (bundle / "report.md").read_text()
    )
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
        with pytest.raises(ImageError, match="uint8"):
            cap.caption(px.astype(np.float32))


def test_int8_hand_over_gives_the_captions_of_plain_dequantise_requantise(bundle, scenes):
    """The step keeps the state in the decoder's codes between steps; a step written the long way,
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
                ins = {
                    "token": np.asarray(tokens, np.int32),
                    **{k: q(di[k], v) for k, v in state.items()},
                    "features": q(di["features"], np.repeat(enc["features"], n, 0)),
                    "keys": q(di["keys"], np.repeat(enc["keys"], n, 0)),
                }
                out = cap.decoder.run(ins)
                return (
                    dq(do["logits"], out["logits"]),
                    {k: dq(do[k + "_next"], out[k + "_next"]) for k in state},
                    dq(do["alpha"], out["alpha"]),
                )

            for beam in (1, 3):
                ref = search(
                    step,
                    {k: enc[k] for k in b.state_names},
                    cap.vocab.start_id,
                    cap.vocab.end_id,
                    beam=beam,
                    max_len=cap.max_len,
                    length_penalty=cap.length_penalty,
                )
                got = cap.caption(px, beam=beam)
                assert got.tokens == ref.tokens
                assert np.allclose(got.token_logprobs, ref.token_logprobs, atol=1e-5)


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
    code = (
        "import sys, pkgutil, importlib, device\n"
        "for m in pkgutil.walk_packages(device.__path__, 'device.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'tensorflow' not in sys.modules, 'device imported tensorflow'\n"
        "assert 'keras' not in sys.modules\n"
        "print('ok', len(sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr


def test_caption_cli_json_wav_and_attention(bundle, scenes, tmp_path, corrupt_jpeg):
    img = next((scenes.parent / "images").glob("*.jpg"))
    wav, att = tmp_path / "say.wav", tmp_path / "att.png"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "device",
            "caption",
            str(img),
            "--bundle",
            str(bundle),
            "--json",
            "--wav",
            str(wav),
            "--attention",
            str(att),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[0])
    assert out["caption"] and out["answer"] and out["timings_ms"]["total"] > 0
    assert wav.stat().st_size > 10000 and att.stat().st_size > 1000
    assert "XNNPACK" not in r.stderr  # the runtime's start-up line is noise in normal use
    r = subprocess.run(
        [sys.executable, "-m", "device", "-v", "caption", str(img), "--bundle", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "XNNPACK" in r.stderr  # and shown with -v
    r = subprocess.run(
        [sys.executable, "-m", "device", "caption", str(corrupt_jpeg), "--bundle", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "corrupt.jpg" in r.stderr and "Traceback" not in r.stderr


def test_caption_cli_speak_without_a_working_speaker_prints_the_caption_and_fails(bundle, scenes, tmp_path):
    """The speaker is the hardware edge: an `aplay` that fails as it does on a machine with no sound card."""
    img = next((scenes.parent / "images").glob("*.jpg"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aplay = bin_dir / "aplay"
    aplay.write_text(
        "#!/bin/sh\necho 'ALSA lib pcm.c:2666: Unknown PCM default' >&2\n"
        "echo 'aplay: main:831: audio open error: No such file or directory' >&2\nexit 1\n"
    )
    aplay.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    r = subprocess.run(
        [sys.executable, "-m", "device", "caption", str(img), "--bundle", str(bundle), "--speak"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith(str(img)) and len(r.stdout.split(":", 1)[1].split()) >= 2  # the caption is not lost
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert errors == [
        "error: could not speak: audio output failed: aplay: main:831: audio open error: "
        "No such file or directory; check the speaker (aplay -l)"
    ], r.stderr


def test_a_manifest_missing_a_models_inputs_is_refused_by_name(bundle, tmp_path):
    b = _copy(bundle, tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    del m["encoder"]["inputs"]
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="describes the models incompletely"):
        load_bundle(b)
    r = subprocess.run([sys.executable, "-m", "device", "verify", str(b)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "incompletely" in r.stderr


def test_a_decompression_bomb_is_an_image_error_not_a_traceback(tmp_path):
    from PIL import Image
    from device.errors import ImageError

    p = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(p)  # 400 megapixels, tiny on disk
    with pytest.raises(ImageError, match="too large to decode safely"):
        preprocess_file(p)


def test_bench_prepares_frames_at_the_bundles_own_size(bundle, scenes):
    """The test bundle is a 96-pixel model: bench must feed it 96-pixel frames (it used to assume 224)."""
    from device.bench import _images, caption_latency

    with Captioner(bundle) as cap:
        assert cap.bundle.image_size == 96
        imgs = _images(str(scenes.parent / "images"), 3, cap.bundle.image_size, cap.bundle.geometry)
        assert all(im.shape == (96, 96, 3) for im in imgs)
        lat = caption_latency(cap, imgs, rounds=1)
        assert lat["encoder_ms"] > 0 and lat["beam3_ms"] > 0 and lat["beam1_steps"] >= 1
