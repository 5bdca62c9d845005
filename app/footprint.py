"""How much storage a trained network takes, in bits, and per texture pixel (the run log's bits per pixel).

MLP weights are stored at the network's precision (float16 networks: 16 bits each, float32: 32); a
trainable encoding's tables (hash grid, lattice) stay float32 in every network.
"""
from __future__ import annotations

from .network import Layout
from .preset import Preset

ENCODING_BITS = 32


def storage_bits(preset: Preset) -> int:
    mlp = Layout.of(preset.encoding.output_dims, preset.network).parameter_count
    return mlp * (16 if preset.network.half else 32) + preset.encoding.parameter_count * ENCODING_BITS


def bits_per_pixel(preset: Preset, size: tuple[int, int]) -> float:
    """Storage bits of the network over the texture's pixels (``size`` = width, height)."""
    return storage_bits(preset) / (size[0] * size[1])
