"""`./run.sh demo --synthetic` (python synthetic_demo.py): on a machine with no data, build a bundle
from synthetic scenes (train a few minutes, convert to int8, check it), then run the daemon with the
file camera on held-out scenes, the keyboard as the button, and speech to the speaker or WAV files."""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

BUILD = Path(__file__).resolve().parent / "build" / "demo"
# real ImageNet weights, where this machine has them: a frozen ImageNet encoder learns the scenes in
# about a minute; without them the encoder is trained from scratch on small images
IMAGENET_TFLITE = Path(__file__).resolve().parent.parent / "shared/weights/coral/tf2_mobilenet_v2_1.0_224_ptq.tflite"
IMAGENET_MODEL = dict(
    backbone="mobilenet_v2",
    alpha=1.0,
    image_size=224,
    feature_dim=128,
    attention_dim=128,
    embed_dim=128,
    hidden_dim=256,
    dropout=0.1,
    max_len=16,
)
IMAGENET_TRAIN = dict(
    encoder_weights=str(IMAGENET_TFLITE),
    epochs=6,
    min_count=1,
    label_smoothing=0.0,
    lr=3e-3,
    eval_images=100,
    patience=20,
)
# a from-scratch encoder on small images: trainable on a CPU in minutes (see README for the figures)
DEMO_MODEL = dict(
    backbone="mobilenet_v2",
    alpha=0.35,
    image_size=128,
    feature_dim=128,
    attention_dim=128,
    embed_dim=128,
    hidden_dim=256,
    dropout=0.1,
    max_len=16,
)
DEMO_TRAIN = dict(
    encoder_weights="none",
    fine_tune_encoder=True,
    epochs=15,
    min_count=1,
    label_smoothing=0.0,
    lr=3e-3,
    max_minutes=4.0,
    eval_images=100,
    patience=20,
)


def build_bundle(out: Path, minutes: float) -> Path:
    from training.config import ModelConfig, TrainConfig
    from training.synthetic import write_scenes
    from training.train import train
    from tqdm import tqdm
    from convert.build import build

    bundle = out / "bundle"
    if (bundle / "manifest.json").is_file():
        from device.bundle import load_bundle

        try:
            load_bundle(bundle)
            print(f"using the demo bundle in {bundle} (delete it to rebuild)")
            return bundle
        except Exception as e:
            print(f"rebuilding the demo bundle: {e}")
    data = out / "scenes_train"
    if not (data / "captions.csv").is_file():
        write_scenes(data, 1500, seed=0, progress=lambda r: tqdm(r, desc="synthetic scenes", unit="img"))
    pretrained = IMAGENET_TFLITE.is_file()
    model, tcfg = (IMAGENET_MODEL, IMAGENET_TRAIN) if pretrained else (DEMO_MODEL, DEMO_TRAIN)
    print(
        f"training a captioner on synthetic scenes for at most {minutes} minutes "
        f"({'frozen ImageNet encoder from ' + str(IMAGENET_TFLITE) if pretrained else 'encoder trained from scratch'})"
        " ..."
    )
    train(
        str(data / "captions.csv"),
        out / "checkpoint",
        ModelConfig(**model),
        TrainConfig(**{**tcfg, "max_minutes": minutes}),
    )
    print("converting to an int8 bundle and checking it against the float model ...")
    # a few-minute demo model is less settled than a real one: allow it 3 BLEU-4 points
    build(str(out / "checkpoint"), str(bundle), check_limit=60, threshold=3.0)
    return bundle


def has_sound_card() -> bool:
    if not shutil.which("aplay"):
        return False
    r = subprocess.run(["aplay", "-l"], capture_output=True, text=True)
    return any(line.startswith("card") for line in r.stdout.splitlines())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="./run.sh demo --synthetic", description=__doc__)
    ap.add_argument(
        "--minutes", type=float, default=4.0, help="training budget for the demo model (default: %(default)s)"
    )
    ap.add_argument(
        "--presses", type=int, default=5, help="scripted presses when stdin is not a terminal (default: %(default)s)"
    )
    ap.add_argument("--wav", action="store_true", help="write speech to WAV files even when there is a sound card")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    BUILD.mkdir(parents=True, exist_ok=True)
    bundle = build_bundle(BUILD, a.minutes)

    from training.synthetic import write_scenes

    scenes = BUILD / "scenes_demo"
    if not (scenes / "captions.csv").is_file():
        write_scenes(scenes, 12, seed=777)  # never seen in training
    truth = {}
    with open(scenes / "captions.csv") as f:
        for row in csv.DictReader(f):
            truth.setdefault(row["image"], row["caption"])

    from device.app import build_daemon
    from device.button import Press
    from device.config import Config, replace

    wav_dir = BUILD / "wav"
    speaker_out = "player" if has_sound_card() and not a.wav else "wav"
    cfg = replace(
        Config(),
        model={"bundle": str(bundle)},
        camera={"source": "files", "path": str(scenes / "images")},
        button={"kind": "keyboard"},
        speech={"output": speaker_out, "wav_dir": str(wav_dir)},
    )
    daemon = build_daemon(cfg)
    daemon.start()
    print(
        f"\nseesay demo: file camera on {len(truth)} held-out scenes; speech to "
        f"{'the speaker' if speaker_out == 'player' else f'WAV files in {wav_dir}'}"
    )
    files = sorted(truth)
    worker = threading.Thread(target=daemon.run, daemon=True)
    worker.start()

    def show(n_before: int, i: int) -> None:
        while len(daemon.answers) == n_before and worker.is_alive():
            time.sleep(0.01)
        if len(daemon.answers) > n_before:
            ans = daemon.answers[-1]
            print(f"  said: {ans.text!r}   (scene {files[i % len(files)]}: {truth[files[i % len(files)]]!r})")

    if sys.stdin.isatty():
        print("press Enter to describe the next scene, r Enter to repeat, q Enter to quit")
        i = 0
        for line in sys.stdin:
            cmd = line.strip().lower()
            if cmd == "q":
                break
            n = len(daemon.answers)
            daemon.press(Press.LONG if cmd == "r" else Press.SHORT)
            show(n, i if cmd != "r" else i - 1)
            i += cmd != "r"
    else:
        for i in range(a.presses):
            n = len(daemon.answers)
            daemon.press(Press.SHORT)
            show(n, i)
            daemon.speaker.wait(30)
    daemon.request_stop()
    worker.join(10)
    daemon.speaker.wait(10)
    daemon.speaker.close()
    daemon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
