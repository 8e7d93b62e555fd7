"""Wiring: config -> camera, speaker, captioner factory, button, notifier -> Daemon."""

from __future__ import annotations

import logging
import signal

from .audio import PlayerSink, WavSink
from .button import DoublePress, make_button
from .camera import make_camera
from .captioner import Captioner
from .grounding import GroundingSettings
from .daemon import SAY, Daemon, speech_error_logger
from .errors import SeesayError
from .sdnotify import Notifier
from .speech import Speaker, make_engine

log = logging.getLogger("seesay")
RELOAD_EXIT = 75  # EX_TEMPFAIL: the unit's Restart=on-failure starts it again, reading config and bundle anew


def make_sink(sc):
    """The speaker's output for [speech] settings: WAV files in wav_dir (locked: one daemon a folder),
    or the player command's stdin."""
    return WavSink(sc.wav_dir, exclusive=True) if sc.output == "wav" else PlayerSink(list(sc.player))


def make_speaker(cfg, sink=None) -> Speaker:
    """A Speaker for cfg.speech (its engine made on the speaker's own thread), or on a given sink."""
    return Speaker(lambda: make_engine(cfg.speech), sink or make_sink(cfg.speech), on_error=speech_error_logger)


def load_reader_or_none(cfg):
    """The configured text reader, or None: reading off, or its engine missing (logged with the fix;
    a double press then says that reading is not installed)."""
    from .ocr import load_configured

    try:
        reader = load_configured(cfg.reading.engine, cfg.reading.threads)
    except SeesayError as e:
        log.error("reading text is off: %s", e)
        return None
    if reader is None and cfg.reading.engine == "auto":
        log.info("reading text is off: no OCR engine installed (./install.sh --ocr adds one)")
    return reader


def build_daemon(cfg, camera=None, speaker=None, notifier=None, reader=None, on_answer=None) -> Daemon:
    """The daemon for cfg; camera, speaker, notifier and reader default to the configured ones."""
    m = cfg.model
    return Daemon(
        cfg,
        camera or make_camera(cfg.camera),
        speaker or make_speaker(cfg),
        lambda: Captioner(
            m.bundle,
            backend=m.backend,
            threads=m.threads,
            beam=m.beam,
            grounding=None if cfg.behaviour.grounding else GroundingSettings(penalty=0.0),
            segmenter=cfg.behaviour.grounding and cfg.behaviour.segmenter,
            edgetpu_device=m.edgetpu_device,
        ),
        notifier if notifier is not None else Notifier(),
        reader=reader,
        on_answer=on_answer,
    )


def run_daemon(cfg, pin_factory=None, on_answer=None, on_ready=None) -> int:
    """Run the daemon for cfg until SIGTERM/SIGINT or the keyboard's end; -> exit code.
    pin_factory: a gpiozero pin factory (tests: MockFactory), or None for the default.
    on_answer: called with each Answer (device.daemon.Answer); on_ready: called once a press can be heard."""
    daemon = build_daemon(cfg, reader=load_reader_or_none(cfg), on_answer=on_answer)
    # a double press reads only while there is a reader: without one, single presses do not wait
    press = (
        DoublePress(daemon.press, cfg.reading.double_press_s, talking=daemon.talking)
        if daemon.reader is not None
        else daemon.press
    )
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.request_stop())
    hup: list[bool] = []

    def reload(*_):  # SIGHUP (systemctl reload seesay): stop cleanly, exit RELOAD_EXIT for systemd to start again
        hup.append(True)
        daemon.request_stop()

    signal.signal(signal.SIGHUP, reload)
    try:
        # the button first: "ready" is said only when a press can be heard
        button = make_button(
            cfg.button,
            press if cfg.button.kind == "gpio" else daemon.press,
            pin_factory,
            on_down=press.down if isinstance(press, DoublePress) else None,
        )
    except SeesayError:  # its message goes to stderr once, from run_cli
        daemon.speaker.say(SAY["button"])  # nobody can press for an answer, so it is said now, then exit
        _close(daemon)
        raise
    daemon.start()
    log.info(
        "seesay ready: camera %s, button %s, backend %s, reading %s",
        cfg.camera.source,
        cfg.button.kind,
        cfg.model.backend,
        daemon.reader.name if daemon.reader else "off",
    )
    if on_ready is not None:
        on_ready()
    try:
        code = daemon.run()
        if hup:
            log.info(
                "SIGHUP: stopped to load the config and bundle again (exit %d: systemd starts seesay anew)", RELOAD_EXIT
            )
            return RELOAD_EXIT
        return code
    finally:
        if button is not None:
            button.close()
        if isinstance(press, DoublePress):
            press.close()
        _close(daemon)
        log.info("seesay stopped")


def _close(daemon: Daemon) -> None:
    daemon.speaker.wait(5)  # let the last sentence finish
    daemon.speaker.close()
    daemon.close()
