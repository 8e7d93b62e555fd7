from device.errors import SeesayError


class ConvertError(SeesayError, RuntimeError):
    """Conversion could not produce a correct bundle; the message names the cause."""


class AccuracyError(SeesayError, RuntimeError):
    """The quantised bundle loses more accuracy than allowed against the float model."""
