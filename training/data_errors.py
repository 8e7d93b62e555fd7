"""Errors of the host side's data handling, in device's exception tree (so run_cli reports them)."""

from device.errors import SeesayError


class DataError(SeesayError, ValueError):
    """A dataset, split or weights file is missing or malformed."""
