"""Training and conversion on the session's tiny model: checkpoints, CLIs, bad inputs, targets."""

import json
import shutil
import stat
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from convert.build import build
from convert.conversion_errors import ConvertError
from device.bundle import load_bundle
from training.data_errors import DataError

from .conftest import ROOT


def test_checkpoint_carries_config_vocab_metrics_and_history(checkpoint):
    meta = json.loads((checkpoint / "config.json").read_text())
    assert meta["format_version"] == 1 and meta["model"]["vocab_size"] > 10
    assert meta["data"]["val_images"] == 12
    m = json.loads((checkpoint / "metrics.json").read_text())
    assert {"greedy", "beam3", "constant_floor"} <= set(m)
    for k in ("bleu1", "bleu4", "cider", "distinct_captions"):
        assert k in m["beam3"]
    assert len(json.loads((checkpoint / "history.json").read_text())) >= 1
    assert (checkpoint / "val_beam3.jsonl").read_text().count("\n") == 12
    assert (checkpoint / "training_curves.png").stat().st_size > 1000


def test_resume_continues_from_saved_state(checkpoint, scenes, tmp_path):
    from training.config import ModelConfig, TrainConfig
    from training.train import train
    from .conftest import TINY_MODEL

    ck = tmp_path / "ck"
    shutil.copytree(checkpoint, ck)
    train(
        str(scenes),
        ck,
        ModelConfig(**TINY_MODEL),
        TrainConfig(epochs=3, batch_size=32, encoder_weights="none", min_count=1, val_fraction=0.2, eval_images=8),
        resume=True,
    )
    hist = json.loads((ck / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3]


def test_training_cli_help_states_units_and_defaults():
    r = subprocess.run([sys.executable, "-m", "training", "train", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "default: 0.5" in r.stdout and "pixels" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "training", "train", "/nonexistent.csv", "--out", "/tmp/x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_cli_writes_scores_jsonl_and_figures(checkpoint, tmp_path):
    out = tmp_path / "eval"
    r = subprocess.run(
        [sys.executable, "-m", "training", "evaluate", str(checkpoint), "--out", str(out), "--figures", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["images"] == 12 and "cider" in rep["beam3"] and rep["constant_floor"]["caption"]
    assert (out / "attention_beam3_0.png").is_file() and (out / "greedy.jsonl").is_file()


def test_float_variants_and_size(checkpoint, bundle, tmp_path):
    out = tmp_path / "f32"
    build(str(checkpoint), str(out), quantize="float32", run_check=False)
    b = load_bundle(out)
    assert b.decoder.inputs["h"].dtype == "float32"
    size = lambda p: sum((p / f).stat().st_size for f in ("encoder.tflite", "decoder.tflite"))  # noqa: E731
    # the Flickr8k bundle is measured against its 30% goal by `python -m convert size-latency`; this tiny
    # model carries relatively more fixed overhead (graph, quantisation tables)
    assert size(bundle) <= 0.4 * size(out)
    out16 = tmp_path / "f16"
    build(str(checkpoint), str(out16), quantize="float16", run_check=False)
    assert load_bundle(out16).manifest["quantization"] == "float16"


def test_bad_inputs_fail_clearly_and_write_nothing(checkpoint, tmp_path):
    old = tmp_path / "old_ck"
    shutil.copytree(checkpoint, old)
    meta = json.loads((old / "config.json").read_text())
    meta["format_version"] = 0
    (old / "config.json").write_text(json.dumps(meta))
    out = tmp_path / "b"
    with pytest.raises(DataError, match="format 0"):
        build(str(old), str(out))
    empty = tmp_path / "nojpegs"
    empty.mkdir()
    (empty / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ConvertError, match="no readable images"):
        build(str(checkpoint), str(out), calibration=str(empty))
    with pytest.raises(ConvertError, match="--target must be one of"):
        build(str(checkpoint), str(out), target="fpga")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_accuracy_threshold_refuses_a_bundle(checkpoint, tmp_path):
    from convert.conversion_errors import AccuracyError

    out = tmp_path / "strict"
    with pytest.raises(AccuracyError):
        # a 2-epoch int8 model will not match float within -100 points: the check must refuse it
        build(str(checkpoint), str(out), calibration="synthetic", calibration_images=8, check_limit=4, threshold=-100.0)
    assert not out.exists() and (tmp_path / "strict.rejected" / "report.md").is_file()


def test_convert_cli_errors_exit_2_in_one_line_and_help_lists_every_command(checkpoint, tmp_path):
    for bad in (
        ["build", str(checkpoint), "--out", str(tmp_path / "x"), "--target", "tpu"],
        ["build", str(checkpoint), "--out", str(tmp_path / "x"), "--quantize", "int4"],
        [str(checkpoint), "--out", str(tmp_path / "x")],
    ):  # the old form without a command
        r = subprocess.run([sys.executable, "-m", "convert", *bad], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "invalid choice" in r.stderr, r.stderr
        assert not (tmp_path / "x").exists()
    h = subprocess.run([sys.executable, "-m", "convert", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    for cmd in (
        "build",
        "check",
        "tune-grounding",
        "tune-answers",
        "add-person-detector",
        "rounding",
        "size-latency",
        "text-detector",
    ):
        assert cmd in h, cmd


def test_check_cli_on_other_data_writes_its_report_elsewhere(checkpoint, bundle, scenes, tmp_path):
    before = (bundle / "report.json").read_bytes()
    manifest = (bundle / "manifest.json").read_bytes()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "convert",
            "check",
            str(checkpoint),
            str(bundle),
            "--data",
            str(scenes.parent),
            "--limit",
            "3",
            "--threshold",
            "100",
            "--report-dir",
            str(tmp_path / "rep"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["images"] == 3 and (tmp_path / "rep" / "report.md").is_file()
    assert (bundle / "report.json").read_bytes() == before  # the bundle's own report stays
    assert (bundle / "manifest.json").read_bytes() == manifest  # check only checks: no setting changes


def test_wilson_interval_of_the_agreement():
    from convert.check import wilson_interval

    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)  # the textbook case
    lo, hi = wilson_interval(57, 85)  # the Flickr8k val split: 67% is anywhere from 57% to 76%
    assert lo == pytest.approx(0.565, abs=1e-3) and hi == pytest.approx(0.761, abs=1e-3)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


STANDIN_COMPILER = """#!/bin/sh
# stand-in for edgetpu_compiler: writes the model copy and a log in the compiler's format
out=.
while [ $# -gt 1 ]; do case "$1" in -o) out=$2; shift 2;; -s) shift;; *) shift;; esac; done
model=$1; base=$(basename "$model" .tflite)
echo "$model" >> "$out/../compiler_calls.txt"
cp "$model" "$out/${base}_edgetpu.tflite"
cat > "$out/${base}_edgetpu.log" <<LOG
Operator                       Count      Status

CONV_2D                        36         Mapped to Edge TPU
DEPTHWISE_CONV_2D              17         Mapped to Edge TPU
FULLY_CONNECTED                3          Mapped to Edge TPU
QUANTIZE                       1          Operation is otherwise supported, but not mapped due to a limitation
LOG
"""


def test_edgetpu_target_with_standin_compiler(checkpoint, tmp_path):
    comp = tmp_path / "edgetpu_compiler"
    comp.write_text(STANDIN_COMPILER)
    comp.chmod(comp.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "tpu"
    build(
        str(checkpoint),
        str(out),
        target="edgetpu",
        calibration="synthetic",
        calibration_images=8,
        run_check=False,
        edgetpu_compiler=str(comp),
    )
    b = load_bundle(out)
    v = b.manifest["variants"]["edgetpu"]
    assert v["encoder"] == "encoder_edgetpu.tflite" and "encoder_edgetpu.tflite" in b.manifest["files"]
    # only the encoder goes to the TPU: the decoder step stays int8 TFLite on the CPU, and nothing unused is built
    calls = (tmp_path / "out" / "compiler_calls.txt").read_text().split()
    assert [Path(c).name for c in calls] == ["encoder.tflite"] and not list(out.glob("decoder_edgetpu*"))
    assert not list(out.glob("*_edgetpu.log"))  # the compiler's log is read into the manifest, not shipped
    with pytest.raises(ConvertError, match="edgetpu-compiler"):
        build(
            str(checkpoint),
            str(tmp_path / "x"),
            target="edgetpu",
            calibration="synthetic",
            calibration_images=4,
            run_check=False,
            edgetpu_compiler="no-such-compiler",
        )


def test_edgetpu_compiler_log_is_read_op_by_op():
    from convert.edgetpu import parse_compiler_log

    log = """Edge TPU Compiler version 16.0.384591198
Model compiled successfully in 1043 ms.

Operator                       Count      Status

ADD                            10         Mapped to Edge TPU
QUANTIZE                       1          Operation is otherwise supported, but not mapped due to a limitation
CONV_2D                        35         Mapped to Edge TPU
MEAN                           1          More than one subgraph is not supported
"""
    r = parse_compiler_log(log)
    assert (r["ops_on_tpu"], r["ops_on_cpu"]) == (45, 2)
    assert r["ops"]["CONV_2D"] == [{"count": 35, "status": "Mapped to Edge TPU"}] and "Operator" not in r["ops"]


def test_tensorrt_target_exports_onnx_that_matches_keras(checkpoint, tmp_path):
    out = tmp_path / "trt"
    build(str(checkpoint), str(out), target="tensorrt", quantize="float32", run_check=False)
    b = load_bundle(out)
    v = b.manifest["variants"]["tensorrt"]
    assert (out / "encoder.onnx").is_file() and not (out / "decoder.onnx").exists()  # the decoder runs on TFLite
    assert v["onnx_max_abs_error"]["encoder"] < 1e-2 and v["files"] == ["encoder.onnx"]


def test_rounding_agreement_rounds_onto_the_bundles_grids(checkpoint, bundle):
    from convert.rounding import MODES, RoundedStep, on_grid, rounding_agreement

    spec = load_bundle(bundle).decoder
    lg = spec.outputs["logits"]
    x = np.linspace(-20, 20, 1001, dtype=np.float32)
    q = on_grid(x, lg)
    codes = q / lg.scale + lg.zero_point
    assert np.allclose(codes, np.round(codes), atol=1e-3) and codes.min() >= -128 and codes.max() <= 127
    inside = None

    def step(tokens, state):
        nonlocal inside
        inside = state
        return np.tile(x, (len(tokens), 1)), state, np.zeros((len(tokens), 4), np.float32)

    h = {n: np.full((1, spec.inputs[n].shape[-1]), 0.123456, np.float32) for n in load_bundle(bundle).state_names}
    inner, _, _ = RoundedStep(step, spec, state=True, logits=True)(np.array([2], np.int32), h)
    assert np.array_equal(inner[0], q)
    assert all(
        np.array_equal(inside[n], on_grid(h[n], spec.inputs[n])) and not np.array_equal(inside[n], h[n]) for n in h
    )
    r = rounding_agreement(str(checkpoint), str(bundle), limit=4)
    assert r["images"] == 4 and set(r["identical_when_rounded"]) == set(MODES)
    assert all(0.0 <= v <= 1.0 for v in r["identical_when_rounded"].values())
