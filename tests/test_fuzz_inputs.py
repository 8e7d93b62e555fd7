"""Property-based fuzzing (Hypothesis) of the images and the TOML config a user hands the device:
each gives a correct result or a SeesayError with a message, never another exception."""

import io
import tomllib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from device.config import Config, parse_config
from device.errors import ConfigError, ImageError
from device.preprocess import GEOMETRIES, preprocess_file

EXAMPLES = 150

MODES = ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I", "F", "CMYK", "YCbCr"]
FORMATS = {
    "PNG": ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"),
    "JPEG": ("RGB", "L", "CMYK", "YCbCr"),
    "TIFF": tuple(MODES),
    "GIF": ("P", "L", "1"),
    "BMP": ("RGB", "L", "P", "1"),
    "WEBP": ("RGB", "RGBA"),
}


@st.composite
def image_files(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    w, h = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**16))
    img = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    frames = draw(st.integers(1, 3)) if fmt == "GIF" else 1
    if frames > 1:
        img.save(buf, fmt, save_all=True, append_images=[img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)] * (frames - 1))
    else:
        img.save(buf, fmt)
    data = buf.getvalue()
    if draw(st.booleans()):  # a file cut short, as from a failed copy
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return data


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=image_files(), size=st.sampled_from([64, 96, 224]), geometry=st.sampled_from(GEOMETRIES))
def test_any_image_file_becomes_the_models_pixels_or_an_image_error(tmp_path, data, size, geometry):
    f = tmp_path / "photo.img"
    f.write_bytes(data)
    try:
        px = preprocess_file(f, size, geometry)
    except ImageError as e:
        assert "photo.img" in str(e)
    else:
        assert px.shape == (size, size, 3) and px.dtype == np.uint8


sections = st.sampled_from(["model", "camera", "button", "speech", "behaviour", "nonsense"])
keys = st.sampled_from(
    [
        "bundle",
        "backend",
        "threads",
        "beam",
        "source",
        "path",
        "width",
        "kind",
        "pin",
        "hold_s",
        "engine",
        "output",
        "player",
        "voice",
        "rate_wpm",
        "volume",
        "earcons",
        "min_brightness",
        "confidence_threshold",
        "grounding",
        "objects",
        "object_confidence",
        "max_objects",
        "trust_objects",
        "segmenter",
        "busy_queue",
        "typo",
    ]
)
values = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.text(max_size=5), max_size=3),
    st.just({}),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.dictionaries(sections, st.one_of(st.dictionaries(keys, values, max_size=4), values), max_size=4))
def test_any_config_table_is_a_config_or_a_config_error(data):
    try:
        cfg = parse_config(data, "seesay.toml")
    except ConfigError as e:
        assert "seesay.toml" in str(e)
    else:
        assert isinstance(cfg, Config)


def test_a_decoded_toml_file_with_a_wrong_type_names_the_key():
    data = tomllib.loads('[model]\nthreads = "two"\n')
    with pytest.raises(ConfigError, match="model.threads"):
        parse_config(data, "seesay.toml")


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG that claims w x h pixels (its IHDR) with almost no data: what a decompression bomb
    looks like before it is decoded."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("w,h", [(20000, 20000), (8000, 6000)])
def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path, w, h):
    from device.preprocess import load_image

    f = tmp_path / "huge.png"
    f.write_bytes(_png_header_only(w, h))
    with pytest.raises(ImageError, match=r"huge\.png: .*too large.*(smaller|resize)"):
        load_image(f)


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_gives_the_models_pixels(tmp_path):
    from device.preprocess import DRAFT_SIDE, load_image

    f = tmp_path / "phone.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)).save(f, quality=80)
    img = load_image(f)
    assert img.size == (1000, 750) and min(img.size) >= DRAFT_SIDE  # 1/4 scale: the 12 MP pixels are never made
    assert preprocess_file(f, 224, "squash").shape == (224, 224, 3)
    small = tmp_path / "small.jpg"
    Image.fromarray(np.zeros((375, 500, 3), np.uint8)).save(small)
    assert load_image(small).size == (500, 375)  # near the model's size: decoded whole, as in training


def test_the_cli_and_the_daemon_say_a_huge_image_is_too_large(tmp_path):
    import subprocess
    import sys
    from .conftest import ROOT

    f = tmp_path / "huge.png"
    f.write_bytes(_png_header_only(20000, 20000))
    r = subprocess.run(
        [sys.executable, "-m", "device", "caption", str(f)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "huge.png" in r.stderr and "too large" in r.stderr
