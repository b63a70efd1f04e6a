"""A validation case: named inputs (float tensors as float32, before precision conversion) and
attributes. Each plugin's reference module yields them from ``cases(rng)``."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    name: str
    inputs: dict[str, np.ndarray]
    attrs: dict = field(default_factory=dict)
