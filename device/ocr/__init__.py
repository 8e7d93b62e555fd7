"""Text reading engines: one small interface, one module per engine, chosen by name.

    reader = load_reader("ppocr-tesseract")   # -> Reader
    lines = reader.read(rgb)            # TextLine list, in reading order

Engines are optional installs (`install.sh --ocr`); a missing one is an OCRUnavailableError that
names the package to install.
"""

from __future__ import annotations

from .base import Reader, TextLine, reading_order

ENGINES = ("ppocr-tesseract", "tesseract", "rapidocr")


def load_reader(engine: str, threads: int | None = None) -> Reader:
    """A reader by engine name (ppocr-tesseract | tesseract | rapidocr); threads: CPU threads (None:
    the engine's default). A missing engine is an OCRUnavailableError naming what installs it."""
    if engine == "tesseract":
        from .tesseract import TesseractReader

        return TesseractReader(threads=threads)
    if engine == "ppocr-tesseract":
        from .ppocr_tesseract import PPOCRTesseractReader

        return PPOCRTesseractReader(threads=threads)
    if engine == "rapidocr":
        from .rapidocr import RapidOCRReader

        return RapidOCRReader(threads=threads)
    from ..errors import ConfigError

    raise ConfigError(f"unknown OCR engine {engine!r}: choose one of {', '.join(ENGINES)}")


def load_configured(engine: str, threads: int | None = None) -> Reader | None:
    """[reading] engine: "none" -> None; "auto" -> the first of ENGINES that is installed, else None;
    a named engine -> it, or its OCRUnavailableError."""
    from ..errors import OCRUnavailableError

    if engine == "none":
        return None
    if engine != "auto":
        return load_reader(engine, threads)
    for name in ENGINES[:2]:  # rapidocr alone runs English words together: never chosen for you
        try:
            return load_reader(name, threads)
        except OCRUnavailableError:
            continue
    return None


__all__ = ["ENGINES", "load_configured", "Reader", "TextLine", "load_reader", "reading_order"]
