"""Packed float16 networks in RTXNS's arrangement and conversions between matrix layouts.

A ``PackedNetwork`` is one byte buffer holding every layer's float16 weight matrix and bias vector,
each block starting on a 64-byte boundary (RTXNS ``NetworkUtilities::SetNetworkLayerSizes``), plus the
placement of each block. Matrices are stored in one of four layouts, numbered as RTXNS's
``MatrixLayout`` enum:

    0 row_major            W[o][i] at (o * inputs + i) * 2          portable
    1 column_major         W[o][i] at (i * outputs + o) * 2         portable
    2 inferencing_optimal  device- and driver-specific              produced on load, never written to files
    3 training_optimal     device- and driver-specific              produced on load, never written to files

Portable layouts convert on the host with numpy. The optimal ones exist only for a device with
cooperative vectors (``Feature.cooperative_vector``): ``convert`` uses slangpy's
``Device.convert_coop_vec_matrices`` (host memory). Biases are plain float16 vectors in every layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import StudioError

ALIGNMENT = 64  # bytes; RTXNS's s_matrixAlignment, the cooperative-vector spec's minimum
MATRIX_LAYOUTS = ("row_major", "column_major", "inferencing_optimal", "training_optimal")
PORTABLE_LAYOUTS = ("row_major", "column_major")
HALF = 2  # bytes per float16


def align(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def layout_name(value: str) -> str:
    """Canonical layout name for 'row-major', 'RowMajor', 'row_major', ..."""
    key = str(value).replace("-", "_").replace(" ", "_").lower()
    key = {"rowmajor": "row_major", "columnmajor": "column_major", "inferencingoptimal": "inferencing_optimal",
           "trainingoptimal": "training_optimal"}.get(key, key)
    if key not in MATRIX_LAYOUTS:
        raise StudioError(f"unknown matrix layout {value!r}; choose one of: {', '.join(MATRIX_LAYOUTS)}")
    return key


@dataclass(frozen=True)
class LayerPlacement:
    """RTXNS ``NetworkLayer``: a weight matrix of outputs x inputs and a bias vector, in bytes."""
    inputs: int
    outputs: int
    weight_size: int
    bias_size: int
    weight_offset: int
    bias_offset: int


@dataclass(frozen=True)
class PackedNetwork:
    layout: str
    layers: tuple[LayerPlacement, ...]
    data: bytes

    @property
    def byte_size(self) -> int:
        return len(self.data)

    @property
    def portable(self) -> bool:
        return self.layout in PORTABLE_LAYOUTS


def place(shapes: list[tuple[int, int]], matrix_size, bias_alignment: int = ALIGNMENT
          ) -> tuple[tuple[LayerPlacement, ...], int]:
    """Placements for layers of (outputs, inputs); ``matrix_size(rows, cols)`` gives a matrix's bytes.
    Every block starts 64-byte aligned and the total is rounded up to 64 bytes, as RTXNS (1.2.2 and later)
    does; its earlier releases put biases on 16-byte boundaries (``bias_alignment`` 16)."""
    at, out = 0, []
    for outputs, inputs in shapes:
        weight_size = int(matrix_size(outputs, inputs))
        weight_offset = align(at)
        bias_offset = (weight_offset + weight_size + bias_alignment - 1) // bias_alignment * bias_alignment
        at = bias_offset + outputs * HALF
        out.append(LayerPlacement(inputs, outputs, weight_size, outputs * HALF, weight_offset, bias_offset))
    return tuple(out), align(at)


def _portable_size(rows: int, cols: int) -> int:
    return rows * cols * HALF


def _matrix_bytes(w: np.ndarray, layout: str) -> bytes:
    w = np.asarray(w, np.float16)
    return np.ascontiguousarray(w if layout == "row_major" else w.T).astype("<f2").tobytes()


def pack(layers: list[tuple[np.ndarray, np.ndarray | None]], layout: str = "row_major") -> PackedNetwork:
    """[(W (outputs x inputs), b or None)] -> a packed float16 network in a portable layout (missing
    biases are stored as zeros, which is exact). Values must already fit float16."""
    layout = layout_name(layout)
    if layout not in PORTABLE_LAYOUTS:
        raise StudioError(f"{layout} is device-specific; pack in row_major and convert on the device that uses it")
    placements, total = place([np.shape(w) for w, _ in layers], _portable_size)
    data = bytearray(total)
    for p, (w, b) in zip(placements, layers):
        data[p.weight_offset:p.weight_offset + p.weight_size] = _matrix_bytes(w, layout)
        bias = np.zeros(p.outputs, "<f2") if b is None else np.asarray(b, np.float16).astype("<f2")
        data[p.bias_offset:p.bias_offset + p.bias_size] = bias.tobytes()
    return PackedNetwork(layout, placements, bytes(data))


def unpack(packed: PackedNetwork) -> list[tuple[np.ndarray, np.ndarray]]:
    """Portable packed network -> [(W float16 (outputs x inputs), b float16)]."""
    if not packed.portable:
        raise StudioError(f"weights in the {packed.layout} layout can only be read back on the device that made "
                          "them: convert them to row_major there first")
    out = []
    for p in packed.layers:
        flat = np.frombuffer(packed.data, "<f2", count=p.inputs * p.outputs, offset=p.weight_offset)
        w = flat.reshape(p.outputs, p.inputs) if packed.layout == "row_major" else flat.reshape(p.inputs, p.outputs).T
        b = np.frombuffer(packed.data, "<f2", count=p.outputs, offset=p.bias_offset)
        out.append((np.ascontiguousarray(w).astype(np.float16), b.astype(np.float16)))
    return out


def _require_coopvec(device, target: str) -> None:
    import slangpy as spy
    if device is None:
        raise StudioError(f"converting to or from the {target} layout needs a device with cooperative vectors")
    if not device.has_feature(spy.Feature.cooperative_vector):
        raise StudioError(f"the {target} layout needs cooperative vectors, which {device.info.adapter_name} lacks; "
                          "files keep the portable row_major or column_major layout")


def _spy_layout(name: str):
    import slangpy as spy
    return getattr(spy.CoopVecMatrixLayout, name)


def device_placement(device, packed: PackedNetwork, layout: str) -> tuple[tuple[LayerPlacement, ...], int]:
    """Placements of ``packed``'s layers in ``layout`` on ``device`` (optimal sizes come from the driver)."""
    import slangpy as spy
    layout = layout_name(layout)
    if layout in PORTABLE_LAYOUTS:
        return place([(p.outputs, p.inputs) for p in packed.layers], _portable_size)
    _require_coopvec(device, layout)
    size = lambda rows, cols: device.get_coop_vec_matrix_size(rows, cols, _spy_layout(layout), spy.DataType.float16)
    return place([(p.outputs, p.inputs) for p in packed.layers], size)


def _descs(device, placements, layout: str) -> list:
    import slangpy as spy
    return [device.create_coop_vec_matrix_desc(p.outputs, p.inputs, _spy_layout(layout), spy.DataType.float16,
                                               p.weight_offset) for p in placements]


def convert(packed: PackedNetwork, layout: str, device=None) -> PackedNetwork:
    """The same network in another matrix layout. Portable to portable runs on the host with numpy;
    anything involving an optimal layout needs ``device`` with cooperative vectors."""
    layout = layout_name(layout)
    if layout == packed.layout:
        return packed
    if packed.portable and layout in PORTABLE_LAYOUTS:
        return pack([(w, b) for w, b in unpack(packed)], layout)
    _require_coopvec(device, packed.layout if layout in PORTABLE_LAYOUTS else layout)
    placements, total = device_placement(device, packed, layout)
    out = bytearray(total)
    device.convert_coop_vec_matrices(out, _descs(device, placements, layout), packed.data,
                                     _descs(device, packed.layers, packed.layout))
    for src, dst in zip(packed.layers, placements):
        out[dst.bias_offset:dst.bias_offset + dst.bias_size] = packed.data[src.bias_offset:src.bias_offset + src.bias_size]
    return PackedNetwork(layout, placements, bytes(out))
