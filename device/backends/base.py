"""The backend interface."""

from __future__ import annotations

from typing import Mapping, Protocol

import numpy as np


class Model(Protocol):
    """A loaded model: named inputs in, named outputs out, in the model's own dtypes."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named input arrays (the model's own dtypes) -> named output arrays."""

    def close(self) -> None:
        """Free the runtime's resources; idempotent."""
