"""The RTX Neural Shading SDK's binary network file, as ``rtxns::HostNetwork::WriteToFile`` writes it and
``InitialiseFromFile`` reads it (src/NeuralShading/NeuralNetwork.cpp, NeuralNetworkTypes.h).

Little-endian, a 304-byte header (the C++ ``NetworkFileHeader`` with its natural alignment) then the data:

    0    u32  version word 0xA1C0DE01
    4    NetworkArchitecture: u32 numHiddenLayers, inputNeurons, hiddenNeurons, outputNeurons;
              i32 weightPrecision, biasPrecision (0 = float16, 1 = float32; RTXNS accepts float16 only)
    28   4 bytes padding (RTXNS leaves them uninitialised; ignored on reading)
    32   8 x NetworkLayer, 32 bytes each: u32 inputs, u32 outputs, u64 weightSize, u64 biasSize,
              u32 weightOffset, u32 biasOffset (byte offsets into the data); unused records are zero
    288  i32  matrix layout (0 row-major, 1 column-major, 2 inferencing-optimal, 3 training-optimal)
    292  4 bytes padding
    296  u64  dataSize
    304  dataSize bytes: per layer the float16 weight matrix (outputs x inputs) then the float16 biases,
              each block starting on a 64-byte boundary; dataSize is the end rounded up to 64 bytes
              (RTXNS before 1.2.2 put biases on 16-byte boundaries, and 1.0 did not pad the end: such
              files are read too; files are always written the current way)

This module converts between those bytes and a ``PackedNetwork``; app/export/imports.py turns the
result into a network the app can use.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import StudioError
from .layouts import MATRIX_LAYOUTS, PORTABLE_LAYOUTS, LayerPlacement, PackedNetwork, align, place

HEADER_VERSION = 0xA1C0DE01
MAX_LAYERS = 8                  # RTXNS MAX_SUPPORTED_LAYERS
HEADER_SIZE = 304
ARCH = struct.Struct("<IIIIii")  # at offset 4
ARCH_OFFSET = 4
LAYERS_OFFSET = 32
LAYER = struct.Struct("<IIQQII")  # 32 bytes
LAYOUT_OFFSET = 288
DATA_SIZE_OFFSET = 296
PRECISIONS = {0: "float16", 1: "float32"}
MAX_DATA = 1 << 28              # far beyond any network RTXNS's 8 layers of float16 hold in practice


@dataclass(frozen=True)
class RtxnsNetwork:
    num_hidden_layers: int
    input_neurons: int
    hidden_neurons: int
    output_neurons: int
    packed: PackedNetwork

    @property
    def layers(self) -> int:
        return self.num_hidden_layers + 1


def architecture_shapes(num_hidden: int, inputs: int, hidden: int, outputs: int) -> list[tuple[int, int]]:
    """(outputs, inputs) per layer, as ``CreateHostNetworkLayout`` builds them."""
    layers = num_hidden + 1
    return [(outputs if l == layers - 1 else hidden, inputs if l == 0 else hidden) for l in range(layers)]


def is_rtxns(data: bytes) -> bool:
    """The version word's top three bytes (0xA1C0DE..) identify the family; the low byte the version."""
    return len(data) >= 4 and data[1:4] == b"\xde\xc0\xa1"


def encode_rtxns(net: RtxnsNetwork) -> bytes:
    packed = net.packed
    if packed.layout not in PORTABLE_LAYOUTS:
        raise StudioError(f"RTXNS files are written in a portable layout, not {packed.layout}")
    if net.layers > MAX_LAYERS:
        raise StudioError(f"RTXNS files hold at most {MAX_LAYERS} layers, not {net.layers}")
    header = bytearray(HEADER_SIZE)
    struct.pack_into("<I", header, 0, HEADER_VERSION)
    ARCH.pack_into(header, ARCH_OFFSET, net.num_hidden_layers, net.input_neurons, net.hidden_neurons,
                   net.output_neurons, 0, 0)
    for l, p in enumerate(packed.layers):
        LAYER.pack_into(header, LAYERS_OFFSET + l * LAYER.size, p.inputs, p.outputs, p.weight_size, p.bias_size,
                        p.weight_offset, p.bias_offset)
    struct.pack_into("<i", header, LAYOUT_OFFSET, MATRIX_LAYOUTS.index(packed.layout))
    struct.pack_into("<Q", header, DATA_SIZE_OFFSET, packed.byte_size)
    return bytes(header) + packed.data


def decode_rtxns(data: bytes, name: str = "network") -> RtxnsNetwork:
    """Parses and checks an RTXNS network file; every problem is a StudioError naming the field."""
    if not is_rtxns(data):
        raise StudioError(f"{name} is not an RTXNS network file (it does not start with the version word "
                          f"0x{HEADER_VERSION:08X})")
    version = struct.unpack_from("<I", data, 0)[0]
    if version != HEADER_VERSION:
        raise StudioError(f"{name} is an RTXNS network file of version 0x{version:08X}, which this build cannot "
                          f"read (it reads 0x{HEADER_VERSION:08X})")
    if len(data) < HEADER_SIZE:
        raise StudioError(f"{name} is truncated: an RTXNS header is {HEADER_SIZE} bytes, the file has {len(data)}")
    num_hidden, inputs, hidden, outputs, w_prec, b_prec = ARCH.unpack_from(data, ARCH_OFFSET)
    if num_hidden + 1 > MAX_LAYERS:
        raise StudioError(f"{name} declares {num_hidden} hidden layers; RTXNS networks have at most {MAX_LAYERS} "
                          "layers (damaged file?)")
    if inputs == 0 or hidden == 0 or outputs == 0:
        raise StudioError(f"{name} declares a zero neuron count (inputs {inputs}, hidden {hidden}, outputs {outputs})")
    for what, value in (("weight", w_prec), ("bias", b_prec)):
        if value != 0:
            kind = f"{PRECISIONS[value]} " if value in PRECISIONS else ""
            raise StudioError(f"{name} declares {kind}{what} precision {value}; RTXNS network files hold float16 "
                              "(precision 0) only")
    layout_id = struct.unpack_from("<i", data, LAYOUT_OFFSET)[0]
    if not 0 <= layout_id < len(MATRIX_LAYOUTS):
        raise StudioError(f"{name} declares an invalid matrix layout {layout_id} (0-3 are defined)")
    layout = MATRIX_LAYOUTS[layout_id]
    if layout not in PORTABLE_LAYOUTS:
        raise StudioError(f"{name} stores its matrices in the device-specific {layout} layout, which only the GPU "
                          "and driver that wrote it can read; save it in row-major (RTXNS converts to the host "
                          "layout when it writes files)")
    data_size = struct.unpack_from("<Q", data, DATA_SIZE_OFFSET)[0]
    if data_size > MAX_DATA:
        raise StudioError(f"{name} declares {data_size} bytes of parameters, more than any RTXNS network holds "
                          "(damaged file?)")
    have = len(data) - HEADER_SIZE
    if have < data_size:
        raise StudioError(f"{name} is truncated: its header promises {data_size} bytes of parameters, "
                          f"the file has {have}")
    if have > data_size:
        raise StudioError(f"{name} has {have - data_size} unexpected bytes after its {data_size} bytes of parameters")

    shapes = architecture_shapes(num_hidden, inputs, hidden, outputs)
    half_size = lambda rows, cols: rows * cols * 2
    expected, _ = place(shapes, half_size)
    # RTXNS before 1.2.2 aligned biases to 16 bytes only (and 1.0 did not pad the end): accept its files too
    older, _ = place(shapes, half_size, bias_alignment=16)
    records = [LayerPlacement(*LAYER.unpack_from(data, LAYERS_OFFSET + l * LAYER.size)) for l in range(MAX_LAYERS)]
    for l, got in enumerate(records[len(shapes):], len(shapes)):
        if any((got.inputs, got.outputs, got.weight_size, got.bias_size, got.weight_offset, got.bias_offset)):
            raise StudioError(f"{name}: unused layer record {l} is not zero (damaged header?)")
    placements = records[:len(shapes)]
    for l, (got, want) in enumerate(zip(placements, expected)):
        if (got.inputs, got.outputs) != (want.inputs, want.outputs):
            raise StudioError(f"{name}: layer {l} is {got.inputs} inputs x {got.outputs} outputs, but the architecture "
                              f"says {want.inputs} x {want.outputs}")
        if (got.weight_size, got.bias_size) != (want.weight_size, want.bias_size):
            raise StudioError(f"{name}: layer {l} declares {got.weight_size} weight and {got.bias_size} bias bytes; a "
                              f"float16 {want.outputs} x {want.inputs} layer has {want.weight_size} and {want.bias_size}")
    if tuple(placements) != expected and tuple(placements) != older:
        l, got, want = next((l, g, w) for l, (g, w) in enumerate(zip(placements, expected)) if g != w)
        raise StudioError(f"{name}: layer {l}'s weights and biases sit at bytes {got.weight_offset} and "
                          f"{got.bias_offset}; RTXNS's aligned layout puts them at {want.weight_offset} and "
                          f"{want.bias_offset} ({older[l].bias_offset} for the biases before RTXNS 1.2.2)")
    end = placements[-1].bias_offset + placements[-1].bias_size
    padded = align(end)
    # RTXNS rounds the data up to 64 bytes; its first release ended it at the last bias.
    if not end <= data_size <= padded:
        raise StudioError(f"{name} declares {data_size} bytes of parameters; its layers need {end} "
                          f"({padded} with RTXNS's final 64-byte padding)")
    packed = PackedNetwork(layout, tuple(placements), bytes(data[HEADER_SIZE:]))
    for l, p in enumerate(placements):
        for what, offset, count in (("weights", p.weight_offset, p.inputs * p.outputs),
                                    ("biases", p.bias_offset, p.outputs)):
            values = np.frombuffer(packed.data, "<f2", count=count, offset=offset)
            if not np.all(np.isfinite(values)):
                raise StudioError(f"{name}: layer {l}'s {what} contain NaN or infinite values")
    return RtxnsNetwork(num_hidden, inputs, hidden, outputs, packed)


def rtxns_layers(weights, round_float16: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """The network as RTXNS layers [(W float16 (outputs x inputs), b float16)], or a StudioError listing
    everything RTXNS cannot express: more than 8 layers, several hidden widths, float32 weights (unless
    ``round_float16``), a trainable encoding, values beyond float16's range. Missing biases are zeros."""
    from .common import check_float16_range
    preset = weights.preset
    net, layout = preset.network, weights.layout
    problems = []
    if layout.layers > MAX_LAYERS:
        problems.append(f"it has {layout.layers} layers ({net.n_hidden_layers} hidden + output) and RTXNS networks "
                        f"have at most {MAX_LAYERS} (use at most {MAX_LAYERS - 1} hidden layers)")
    widths = sorted({o for o, _ in layout.shapes()[:-1]})
    if len(widths) > 1:
        problems.append(f"its hidden layers have different widths ({', '.join(map(str, widths))}) and RTXNS "
                        "networks have one hidden width")
    if not net.half and not round_float16:
        problems.append("it is a float32 network and RTXNS networks are float16: train it with precision float16 "
                        "(as the rtxns-simple-training preset does), or pass --round-float16 to round its weights "
                        "(its image changes slightly)")
    if preset.encoding.parameter_count:
        problems.append(f"its encoding {preset.encoding.otype} has trainable parameters, which RTXNS files "
                        "cannot hold")
    if problems:
        raise StudioError("cannot export to RTXNS: " + "; ".join(problems))
    params = np.asarray(weights.parameters, np.float32)
    if not np.all(np.isfinite(params)):
        raise StudioError("cannot export to RTXNS: the network has NaN or infinite parameters")
    check_float16_range(params, "cannot export to RTXNS: the network")
    half = params.astype(np.float16)
    out = []
    for w, b in layout.layers_of(half):
        out.append((np.array(w, np.float16), np.zeros(w.shape[0], np.float16) if b is None else np.array(b, np.float16)))
    return out


def rtxns_network(weights, layout: str = "row_major", round_float16: bool = False) -> RtxnsNetwork:
    from .layouts import pack
    lay = weights.layout
    packed = pack(rtxns_layers(weights, round_float16), layout)
    return RtxnsNetwork(lay.n_hidden_layers, lay.input_dims, lay.hidden, 3, packed)
