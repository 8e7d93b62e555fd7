"""`python -m device doctor`: what a person setting up a device runs first. Each check says OK or
what is wrong and how to fix it; the exit code is non-zero when a required part is missing."""

from __future__ import annotations

import shutil
import subprocess

from .config import load_config
from .errors import SeesayError


def _check(name: str, fn, required: bool = True) -> bool:
    try:
        detail = fn()
        print(f"[ OK ] {name}: {detail}")
        return True
    except (SeesayError, OSError, ImportError, ValueError, RuntimeError) as e:
        print(f"[{'FAIL' if required else 'warn'}] {name}: {e}")
        return not required


def doctor(config_path: str | None = None) -> int:
    """`seesay doctor`: check config, bundle, runtime, camera, speech, audio output, button and reader,
    one line each with the fix; -> 0 when every required check passes, else 1."""
    ok = True
    cfg = None

    def config():
        nonlocal cfg
        from .config import DEFAULT_PATH

        cfg = load_config(config_path)
        return config_path or (str(DEFAULT_PATH) if DEFAULT_PATH.is_file() else f"defaults (no {DEFAULT_PATH})")

    ok &= _check("config", config)
    if cfg is None:
        return 1

    def bundle():
        from .bundle import load_bundle

        b = load_bundle(cfg.model.bundle)
        return f"{b.path}: {b.manifest['quantization']}, {len(b.vocab)} words, checksums verified"

    ok &= _check("bundle", bundle)

    def backend():
        from .backends.litert import interpreter_module

        mod = interpreter_module()
        from .captioner import Captioner

        c = Captioner(
            cfg.model.bundle,
            backend=cfg.model.backend,
            threads=cfg.model.threads,
            edgetpu_device=cfg.model.edgetpu_device,
        )
        import numpy as np

        t = c.caption(np.full((c.bundle.image_size,) * 2 + (3,), 128, np.uint8), beam=1).timings_ms["total"]
        c.close()
        return f"{cfg.model.backend} via {mod.__name__.split('.')[0]}, test caption in {t:.0f} ms"

    ok &= _check("backend", backend)

    def edgetpu():
        from .backends.edgetpu import load_edgetpu_delegate

        load_edgetpu_delegate()
        return "libedgetpu.so.1 delegate loaded"

    _check("Edge TPU", edgetpu, required=cfg.model.backend == "edgetpu")

    def camera():
        from .camera import make_camera

        cam = make_camera(cfg.camera)
        try:
            f = cam.capture()
        finally:
            cam.close()
        return f"{cfg.camera.source}: frame {f.shape[1]}x{f.shape[0]}"

    ok &= _check("camera", camera)

    def speech():
        from .speech import make_engine

        make_engine(cfg.speech)
        return f"espeak-ng {cfg.speech.engine}, voice {cfg.speech.voice}"

    ok &= _check("speech synthesis", speech)

    def audio():
        if cfg.speech.output == "wav":
            return f"WAV files in {cfg.speech.wav_dir}"
        player = cfg.speech.player[0]
        if not shutil.which(player):
            raise OSError(f"{player} not found: sudo apt install alsa-utils")
        if player == "aplay":
            out = subprocess.run(["aplay", "-l"], capture_output=True, text=True, timeout=10)
            cards = [l for l in out.stdout.splitlines() if l.startswith("card")]
            if not cards:
                raise OSError("no sound card found (aplay -l lists none): plug in the speaker / enable audio")
            return f"{len(cards)} playback device(s), e.g. {cards[0]}"
        return f"player {player}"

    ok &= _check("audio output", audio)

    def reading():
        from .ocr import load_configured

        r = load_configured(cfg.reading.engine, cfg.reading.threads)
        if r is None:
            if cfg.reading.engine == "none":
                return "off ([reading] engine = \"none\")"
            raise OSError("no OCR engine installed, so a double press cannot read: ./install.sh --ocr adds one")
        r.close()
        return (
            f"{r.name} ({r.version}); a second press within {cfg.reading.double_press_s:.2f} s of the first reads text"
        )

    _check("reading text", reading, required=cfg.reading.engine not in ("auto", "none"))

    def gpio():
        if cfg.button.kind != "gpio":
            return f"button kind {cfg.button.kind} (no GPIO needed)"
        from .button import GPIOButton

        with GPIOButton(cfg.button.pin, lambda press: None, cfg.button.bounce_ms, cfg.button.hold_s) as b:
            factory = type(b.button.pin_factory).__name__
        return f"pin GPIO{cfg.button.pin} via {factory}"

    ok &= _check("button", gpio)
    print("all required checks passed" if ok else "some checks failed: fix them, then run doctor again")
    return 0 if ok else 1
