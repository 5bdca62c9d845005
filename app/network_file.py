"""A network as every file format reads it and writes it: the preset that describes it (encoding,
network, and the training settings it was made with) plus its compact float32 parameters.

The formats themselves (this app's .ntsw, RTXNS .bin and JSON, the exports) are registered in
app/formats.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .network import Layout
from .preset import Preset


@dataclass
class WeightsFile:
    preset: Preset
    parameters: np.ndarray
    texture_size: tuple[int, int] = (0, 0)
    transform: str = "none"
    stats: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what an import assumed (RTXNS files); never saved

    @property
    def layout(self) -> Layout:
        return Layout.of(self.preset.encoding.output_dims, self.preset.network)


def parameter_count(preset: Preset) -> int:
    """Parameters a file of this preset holds: the MLP's, then a trainable encoding's."""
    return Layout.of(preset.encoding.output_dims, preset.network).parameter_count + preset.encoding.parameter_count
