"""seesay / python -m device {caption,read,run,doctor,verify,bench,build-engines} --help"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .bundle import default_bundle_dir
from .config import Config
from .errors import OCRUnavailableError, OneLineParser, OutputPathError, SeesayError, run_cli


def writable_file(arg: str | None, what: str) -> None:
    """Refuse, before any work, an output file that cannot be written where it was asked for."""
    if arg is None:
        return
    f = Path(arg)
    if f.is_dir():
        raise OutputPathError(f"{what} {f} is a folder: give a file name in it, e.g. {f / 'out'}")
    if not f.parent.is_dir():
        raise OutputPathError(f"{what} {f}: the folder {f.parent} does not exist; create it first")
    if not os.access(f.parent, os.W_OK):
        raise OutputPathError(f"{what} {f}: the folder {f.parent} is not writable")
    if f.exists() or f.is_symlink():
        raise OutputPathError(f"{what} {f} already exists: seesay never overwrites a file; give a new name")


def writable_folder(arg: str | None, what: str) -> None:
    """Refuse, before any work, an output folder that cannot be made or written (arg None: nothing asked)."""
    if arg is None:
        return
    d = Path(arg)
    if d.exists() and not d.is_dir():
        raise OutputPathError(f"{what} {d} is a file, not a folder: give a folder (it is made if missing)")
    parent = next((p for p in [d, *d.parents] if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputPathError(f"{what} {d}: cannot make or write it (check the path and its permissions)")


def cmd_caption(a) -> int:
    """`device caption`: describe each image (the frame check first), print or speak it; -> exit code."""
    from .answer import compose
    from .captioner import Captioner
    from .config import answer_settings
    from .frame_check import ADVICE
    from .preprocess import preprocess_file
    from .grounding import GroundingSettings

    writable_file(a.attention, "--attention")
    writable_file(a.wav, "--wav")
    writable_folder(a.wav_dir, "--wav-dir")
    cap = Captioner(
        a.bundle,
        backend=a.backend,
        threads=a.threads,
        grounding=GroundingSettings(penalty=0.0) if a.no_grounding else None,
        segmenter=not a.no_grounding,
    )
    said = answer_settings(Config().behaviour, cap.bundle.manifest)
    speaker, speech_errors = None, []
    if a.speak or a.wav or a.wav_dir:
        from .audio import PlayerSink, WavSink
        from .speech import EspeakLibrary, Speaker

        if a.wav:  # made in a scratch folder beside it, then moved to its name: nothing else in that folder is touched
            import tempfile

            scratch = Path(tempfile.mkdtemp(prefix=".seesay-wav-", dir=Path(a.wav).resolve().parent))
        sink = WavSink(scratch) if a.wav else WavSink(a.wav_dir) if a.wav_dir else PlayerSink()
        speaker = Speaker(lambda: EspeakLibrary(), sink, on_error=speech_errors.append)
    status = 0
    for i, img in enumerate(a.images):
        try:
            px = preprocess_file(img, cap.bundle.image_size, cap.bundle.geometry)
        except SeesayError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        problem = said.frame.problem(px)  # the same frame check as the daemon's
        if problem and not a.caption_anyway:
            answer = ADVICE[problem]
            if a.json:
                print(json.dumps({"image": img, "answer": answer, "kind": problem}))
            else:
                print(f"{img}: {answer}")
            if speaker:
                speaker.say(answer)
                speaker.wait(60)
            continue
        c = cap.caption(px, beam=a.beam)
        d = compose(c, cap.objects, said)
        answer = d.text
        if a.json:
            print(
                json.dumps(
                    {
                        "image": img,
                        "answer": answer,
                        "kind": d.kind,
                        "objects": list(d.objects),
                        "caption_said": d.caption_said,
                        "caption": c.text,
                        "tokens": c.tokens,
                        "mean_logprob": round(c.mean_logprob, 3),
                        "finished": c.finished,
                        "reranked": c.reranked,
                        "timings_ms": {k: round(v, 2) for k, v in c.timings_ms.items()},
                    }
                )
            )
        else:
            print(f"{img}: {answer}  ({c.timings_ms['total']:.0f} ms)")
        if a.attention:
            from .attention_figure import save_attention_figure

            out = Path(a.attention) if len(a.images) == 1 else Path(a.attention).with_suffix(f".{i}.png")
            try:
                save_attention_figure(out, px, c.text.split(), c.attention[: len(c.text.split())], title=c.text)
            except OSError as e:  # a disk that filled up, a folder removed meanwhile
                raise OutputPathError(f"--attention {out}: {e.strerror or e}") from None
        if speaker:
            speaker.say(answer)
            speaker.wait(60)
    if speaker:
        speaker.close()
        if a.wav:
            if speaker.sink.files:
                os.replace(speaker.sink.files[-1], a.wav)
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    for msg in dict.fromkeys(str(e) for e in speech_errors):  # once each, after the captions were printed
        print(f"error: could not speak: {msg}", file=sys.stderr)
        status = 2
    return status


def _frame_settings():
    """The frame check of the default bundle (as the daemon would use it), or the built-in one."""
    from .bundle import load_bundle
    from .config import answer_settings

    try:
        manifest = load_bundle(default_bundle_dir()).manifest
    except SeesayError:
        manifest = None
    return answer_settings(Config().behaviour, manifest).frame


def cmd_read(a) -> int:
    """The text in each photo, as a double press on the device would say it."""
    from .ocr import load_configured
    import numpy as np

    from .preprocess import load_image
    from .reading import SAY_READ, read_frame

    reader = load_configured(a.engine, a.threads)
    if reader is None:
        raise OCRUnavailableError(
            f"{SAY_READ['no_reader']} Install an OCR engine: ./install.sh --ocr, or "
            "pip install tesserocr rapidocr-onnxruntime plus apt tesseract-ocr-eng"
        )
    frame_settings = _frame_settings()
    speaker = None
    if a.speak:
        from .audio import PlayerSink
        from .speech import EspeakLibrary, Speaker

        speaker = Speaker(lambda: EspeakLibrary(), PlayerSink())
    status = 0
    for img in a.images:
        try:
            frame = np.asarray(load_image(img))
        except SeesayError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        text, _ = read_frame(reader, frame, frame_settings)
        print(f"{img}: {text}")
        if speaker:
            speaker.say(text)
            speaker.wait(120)
    if speaker:
        speaker.close()
    reader.close()
    return status


def cmd_run(a) -> int:
    """`device run`: load and check the config, then run the button daemon until stopped; -> exit code."""
    from .config import load_config

    cfg = load_config(a.config)
    if a.check_config:
        print(f"config OK: {a.config or 'built-in defaults'}")
        return 0
    from .app import run_daemon

    if not a.answers_json:
        return run_daemon(cfg)

    def emit(record: dict) -> None:  # one JSON object a line, flushed: a watcher reads it as it happens
        print(json.dumps(record), flush=True)

    return run_daemon(cfg, on_answer=lambda ans: emit(ans.to_record()), on_ready=lambda: emit({"event": "ready"}))


def whole_number(lo: int, hi: int):
    """An argparse type: an int from lo to hi, else a sentence saying so."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} is out of range: give {lo} to {hi}")
        return n

    return parse


positive_int = whole_number(1, 64)  # beam widths and thread counts


def main(argv=None) -> int:
    """The `seesay` / `python -m device` command line; argv None = sys.argv[1:]; -> exit code (2: an error line)."""
    ap = OneLineParser(
        prog="python -m device", description="seesay on the device: caption, speak, run the button daemon."
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("caption", help="caption image files")
    c.add_argument("images", nargs="+", help="JPEG/PNG files")
    c.add_argument(
        "--bundle", default=default_bundle_dir(), help="bundle folder (default: $SEESAY_BUNDLE or %(default)s)"
    )
    c.add_argument("--beam", type=positive_int, help="beam width, 1 = greedy (default: the bundle's, usually 3)")
    c.add_argument(
        "--backend",
        default="cpu",
        choices=("cpu", "edgetpu", "tensorrt"),
        help="cpu | edgetpu | tensorrt (default: %(default)s)",
    )
    c.add_argument(
        "--threads",
        type=positive_int,
        default=Config().model.threads,
        help="CPU threads of the encoder (default: the daemon's, %(default)s)",
    )
    c.add_argument("--speak", action="store_true", help="say each caption on the speaker")
    c.add_argument(
        "--wav",
        help="write the (last) spoken caption to this WAV file instead (a new file: an existing " "one is refused)",
    )
    c.add_argument("--wav-dir", help="write every spoken caption to a WAV file in this folder instead")
    c.add_argument("--attention", help="write the attention figure (PNG) here")
    c.add_argument("--json", action="store_true", help="one JSON object per image")
    c.add_argument(
        "--caption-anyway",
        action="store_true",
        help="caption even a frame the frame check refuses (dark, blurred, ...): for measuring",
    )
    c.add_argument(
        "--no-grounding",
        action="store_true",
        help="the captioner's own best beam, not steered by the class head (as behaviour.grounding = false)",
    )

    rd = sub.add_parser("read", help="read the text in image files (signs, labels, pages)")
    rd.add_argument("images", nargs="+", help="JPEG/PNG files")
    rd.add_argument(
        "--engine", default="auto", help="auto | ppocr-tesseract | tesseract | rapidocr (default: %(default)s)"
    )
    rd.add_argument("--threads", type=positive_int, default=2, help="CPU threads (default: %(default)s)")
    rd.add_argument("--speak", action="store_true", help="say the text on the speaker")

    r = sub.add_parser("run", help="the button daemon (what systemd runs)")
    r.add_argument("--config", help="TOML config (default: /etc/seesay/seesay.toml if present, else built-in defaults)")
    r.add_argument("--check-config", action="store_true", help="validate the config and exit")
    r.add_argument(
        "--answers-json",
        action="store_true",
        help="print each answer as a JSON line on stdout (event, asked, kind, text); nothing is stored",
    )

    d = sub.add_parser("doctor", help="check camera, audio, GPIO, bundle, backend: run this first on a new device")
    d.add_argument("--config", help="TOML config (default: /etc/seesay/seesay.toml if present)")

    v = sub.add_parser("verify", help="verify a bundle (manifest, checksums, vocabulary) and print its summary")
    v.add_argument("bundle")

    b = sub.add_parser("bench", help="latency, press-to-audio, memory and start-up, printed as ratios")
    b.add_argument("--bundle", default=default_bundle_dir(), help="bundle folder (default: as for caption)")
    b.add_argument("--images", required=True, help="folder of JPEGs for the file camera")
    b.add_argument(
        "-n", type=whole_number(1, 100_000), default=30, help="captions per measurement (default: %(default)s)"
    )
    b.add_argument(
        "--threads",
        type=positive_int,
        default=Config().model.threads,
        help="TFLite CPU threads of the encoder, for the latency ratios (default: the daemon's, %(default)s)",
    )

    e = sub.add_parser("build-engines", help="Jetson: build TensorRT engines from the bundle's ONNX files")
    e.add_argument("bundle")
    e.add_argument("--int8", action="store_true", help="int8 engines (needs --calib-images); default fp16")
    e.add_argument("--calib-images", help="folder of JPEGs for TensorRT's own int8 calibration")
    e.add_argument("--trtexec", default="/usr/src/tensorrt/bin/trtexec", help="trtexec path (default: %(default)s)")

    a = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if a.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    return run_cli(lambda: _dispatch(a))


def _dispatch(a) -> int:
    if a.cmd == "caption":
        return cmd_caption(a)
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "read":
        return cmd_read(a)
    if a.cmd == "doctor":
        from .doctor import doctor

        return doctor(a.config)
    if a.cmd == "verify":
        from .bundle import load_bundle

        bd = load_bundle(a.bundle)
        m = bd.manifest
        print(
            f"bundle {bd.path} OK: {m['quantization']} {m['model']['backbone']}, {len(bd.vocab)} words, "
            f"{len(m['files'])} files verified, converted by seesay {m['converter']['seesay_version']}"
        )
        return 0
    if a.cmd == "bench":
        from .bench import bench

        return bench(a.bundle, a.images, a.n, a.threads)
    if a.cmd == "build-engines":
        from .tensorrt_build import build_engines

        return build_engines(a.bundle, a.int8, a.calib_images, a.trtexec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
