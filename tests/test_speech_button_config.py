import threading
import time
import wave

import numpy as np
import pytest

from device.audio import PacedWavSink, PlayerSink, WavSink
from device.button import GPIOButton, Press
from device.config import Config, load_config, parse_config
from device.errors import ButtonError, ConfigError, SpeechError
from device.speech import EspeakCommand, EspeakLibrary, Speaker


def _seconds(path):
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_espeak_library_speaks_into_wav(tmp_path):
    sink = WavSink(tmp_path)
    with Speaker(lambda: EspeakLibrary(voice="en-us", rate_wpm=170), sink) as sp:
        sp.say("a black dog runs across the grass")
        assert sp.wait(20)
    assert 1.0 < _seconds(sink.files[0]) < 6.0
    pcm = np.frombuffer(wave.open(str(sink.files[0])).readframes(10**6), np.int16)
    assert np.abs(pcm).max() > 1000  # real speech, not silence


def test_espeak_command_engine(tmp_path):
    sink = WavSink(tmp_path)
    with Speaker(lambda: EspeakCommand(), sink) as sp:
        sp.say("hello")
        assert sp.wait(20)
    assert _seconds(sink.files[0]) > 0.2


def test_stop_interrupts_speech(tmp_path):
    sink = PacedWavSink(tmp_path)
    with Speaker(lambda: EspeakLibrary(), sink) as sp:
        sp.say("this is a rather long sentence that nobody will hear to the end because it is stopped")
        time.sleep(0.3)
        sp.stop()
        assert sp.wait(2) and not sp.busy
    assert _seconds(sink.files[0]) < 1.5  # cut short: the whole sentence is about 5 s of audio


def test_failing_player_is_reported_and_speaker_lives(tmp_path):
    errors = []
    sink = PlayerSink(["sh", "-c", "exit 3"])
    with Speaker(lambda: EspeakLibrary(), sink, on_error=errors.append) as sp:
        sp.say("nobody hears this")
        assert sp.wait(10)
        assert errors and isinstance(errors[0], SpeechError) and "speaker" in str(errors[0])
        sink.command = ["nonexistent-player-xyz"]
        sp.say("nor this")
        assert sp.wait(10)
    assert "not found" in str(errors[-1])


def test_speech_that_cannot_start_is_reported_and_still_sounds_the_error_tone(tmp_path):
    """An unknown voice (or no espeak-ng): each sentence is an error for the log, and the wearer
    hears the error earcon instead of silence."""
    from device.earcons import EARCONS

    errors = []
    sink = WavSink(tmp_path)
    with Speaker(lambda: EspeakLibrary(voice="no-such-voice"), sink, on_error=errors.append) as sp:
        sp.say("a dog on the grass")
        assert sp.wait(10)
    assert [type(e) for e in errors] == [SpeechError, SpeechError]  # at start, and for the sentence
    assert "no-such-voice" in str(errors[-1])
    assert len(sink.files) == 1 and sp.spoken == []
    with wave.open(str(sink.files[0])) as w:
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), np.int16), EARCONS["error"]())


def test_gpio_button_short_and_long_press_with_mock_factory():
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    got, ev = [], threading.Event()

    def on(p):
        got.append(p)
        ev.set()

    with GPIOButton(17, on, bounce_ms=0, hold_s=0.2, pin_factory=factory) as b:
        pin = factory.pin(17)
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()
        assert ev.wait(2)
        ev.clear()
        pin.drive_low()
        assert ev.wait(2)
        time.sleep(0.1)
        pin.drive_high()
        time.sleep(0.1)
    assert got == [Press.SHORT, Press.LONG]
    Device.pin_factory = None


def test_gpio_button_that_cannot_be_set_up_says_why_and_what_to_do(monkeypatch):
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    try:
        with GPIOButton(17, lambda p: None, pin_factory=factory):
            with pytest.raises(ButtonError, match="GPIO17 could not be set up.*no other program") as e:
                GPIOButton(17, lambda p: None, pin_factory=factory)  # the pin is taken
            assert isinstance(e.value, OSError)
        # no pin library at all (a desktop, or a Pi without python3-lgpio): gpiozero's own failure
        monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-pin-library")
        Device.pin_factory = None
        with pytest.raises(ButtonError, match='no-such-pin-library.*python3-lgpio.*kind = "keyboard"'):
            GPIOButton(17, lambda p: None)
    finally:
        Device.pin_factory = None


def test_config_defaults_types_and_unknown_keys(tmp_path):
    assert Config().model.backend == "cpu" and Config().speech.engine == "library"
    cfg = parse_config({"camera": {"source": "files", "path": "/x"}, "model": {"beam": 1}})
    assert cfg.camera.source == "files" and cfg.model.beam == 1 and cfg.button.pin == 17
    with pytest.raises(ConfigError, match="unknown key camera.resolution"):
        parse_config({"camera": {"resolution": 3}})
    with pytest.raises(ConfigError, match="unknown section \\[cam\\]"):
        parse_config({"cam": {}})
    with pytest.raises(ConfigError, match="model.beam must be int"):
        parse_config({"model": {"beam": "3"}})
    with pytest.raises(ConfigError, match="choose one of"):
        parse_config({"model": {"backend": "gpu"}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nbeam=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_speech_bench_measures_first_audio_of_the_library_and_the_command():
    from device.bench import speech_first_audio

    r = speech_first_audio(n=3)
    assert r["library"] > 0 and r["command"] > 0  # both engines really made sound
