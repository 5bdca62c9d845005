"""Self-contained inference shaders: the encoding, the weights as constants and the activations in one
Slang module or HLSL file that an engine pastes in, defining

    float3 evaluate(float2 uv)   // uv in [0,1]^2; pixel (x, y) of W x H at ((x + 0.5) / W, (y + 0.5) / H)

The code mirrors what ``infer`` computes: each layer starts from its bias and adds the products four
inputs at a time (``dot`` of float4s, the missing tail padded with zeros), then applies its activation;
float16 networks round the encoded inputs and every layer's outputs to float16. That rounding is done
with integer operations (round to nearest, ties to even, as numpy and RTXNS's host conversion do), because
compilers may drop a float -> half -> float round trip and drivers round hardware conversions
differently. A trainable encoding (hash grid, permutohedral lattice) is the trainer's own Slang, pasted
(``_table_encoding``), reading its table after the MLP's weights in the buffer or from literals. The Slang
module loads directly with slangpy
(``spy.Module.load_from_file(device, path).evaluate(uv)``); the HLSL file uses only HLSL 5 features
and, with ``NTS_EXAMPLE_ENTRY`` defined, adds a compute entry point ``nts_render`` that fills a texture.
"""
from __future__ import annotations

import re

import numpy as np

from ..device import SHADER_DIR
from ..errors import StudioError
from .common import ARRAY_RULE, UV_CONVENTION, dense_layers, encoding_table, float_literal

PI = "3.14159265358979"

# float -> nearest float16 value (ties to even) -> float, with integer operations only; identical in
# Slang and HLSL: the project's own (shaders/half_rounding.slang), pasted so the export includes nothing.
# ROUND_HALF: nts_round_half (scalar, branches; buffer mode); ROUND_HALF4: nts_round_half4_flat (four
# values, no branches; constants mode inlines it once per four outputs).
_ROUNDING = (SHADER_DIR / "half_rounding.slang").read_text().split(
    "#pragma once", 1)[1]
ROUND_HALF = _ROUNDING.split("float4 nts_round_half4(float4 v)", 1)[0].strip() + "\n"
ROUND_HALF4 = _ROUNDING.split("// ---- branch-free ----", 1)[1].strip() + "\n"
TWO_PI = "6.28318530717959"


def _activation(name: str, alpha: float) -> str:
    """The activation of x as an expression, with the same formula the trainer's shaders use."""
    table = {
        "none": "x",
        "relu": "max(x, 0.0)",
        "leaky_relu": f"x > 0.0 ? x : {float_literal(alpha)} * x",
        "sigmoid": "1.0 / (1.0 + exp(-x))",
        "tanh": "tanh(x)",
        "exp": "exp(x)",
        "exp2": "exp2(x)",
        "softplus": "x > 20.0 ? x : log(1.0 + exp(x))",
        "silu": "x * (1.0 / (1.0 + exp(-x)))",
        "sine": "sin(x)",
    }
    if name not in table:
        raise StudioError(f"the shader export has no code for activation {name!r}; it knows {', '.join(table)}")
    return table[name]


def _encoding(encoding) -> tuple[str, str]:
    """(helper functions, body of ``float nts_feature(float2 uv, uint f)``) for the network's encoding."""
    otype = encoding.otype
    if otype == "identity":
        return "", "    return f == 0u ? uv.x : uv.y;"
    if otype == "frequency":
        n2 = 2 * encoding.n_frequencies
        return "", (f"    uint r = f % {n2}u;\n"
                    f"    float x = f < {n2}u ? uv.x : uv.y;\n"
                    f"    float phase = x * {PI} * float(1u << (r / 2u));\n"
                    "    return (r & 1u) == 0u ? sin(phase) : cos(phase);")
    if otype in ("sin", "tri"):
        n2 = 2 * encoding.octaves
        head = (f"    uint r = f % {n2}u;\n"
                "    uint octave = r / 2u;\n"
                f"    float x = f < {n2}u ? uv.x : uv.y;\n"
                f"    float t = x * float(1u << octave) + float(octave) * {float_literal(encoding.shift)};\n")
        if otype == "sin":
            return "", head + (f"    float phase = {TWO_PI} * (t - floor(t));\n"
                               "    return (r & 1u) == 0u ? sin(phase) : cos(phase);")
        helper = "float nts_cos_tri(float t)\n{\n    return 1.0 - 4.0 * abs(t - round(t));\n}\n"
        return helper, head + "    return (r & 1u) == 0u ? nts_cos_tri(t - 0.25) : nts_cos_tri(t);"
    if otype == "triangle_wave":
        n = encoding.n_frequencies
        return "", (f"    uint j = f % {n}u;\n"
                    f"    float x = f < {n}u ? uv.x : uv.y;\n"
                    "    float v = x * exp2(float(j) - 1.0) + float(j) * 0.25;\n"
                    "    return abs(v - floor(v) - 0.5) * 4.0 - 1.0;")
    if otype == "one_blob":
        bins = encoding.n_bins
        fb = float_literal(bins)
        helper = ("// Quartic kernel of radius 1/bins: its CDF, and the CDF wrapped around [0, 1).\n"
                  "float nts_quartic_cdf(float x)\n{\n"
                  f"    float u = x * {fb};\n"
                  "    float u2 = u * u;\n"
                  "    return clamp(0.9375 * u * (1.0 - u2 * (2.0 / 3.0) + u2 * u2 * 0.2) + 0.5, 0.0, 1.0);\n}\n\n"
                  "float nts_wrapped_cdf(float b, float x)\n{\n"
                  "    return nts_quartic_cdf(b - x) + nts_quartic_cdf(b - x - 1.0) + nts_quartic_cdf(b - x + 1.0);\n}\n")
        return helper, (f"    uint k = f % {bins}u;\n"
                        f"    float x = f < {bins}u ? uv.x : uv.y;\n"
                        f"    float left = float(k) / {fb};\n"
                        f"    float right = float(k + 1u) / {fb};\n"
                        "    return nts_wrapped_cdf(right, x) - nts_wrapped_cdf(left, x);")
    raise StudioError(f"the shader export has no code for encoding {otype!r}; it knows identity, frequency, sin, "
                      "tri, triangle_wave and one_blob")


# The forward pass of the table encodings, shared with training (see _table_encoding).
TABLE_FEATURES_FILE = "encodings/table_features.slang"
# table_features.slang reads an entry's features NTS_TABLE_VECTOR at a time (training: one typed read); an
# export assembles them from its table_value(i).
TABLE_VECTOR_ACCESS = """// Table values v * NTS_TABLE_VECTOR .. v * NTS_TABLE_VECTOR + NTS_TABLE_VECTOR - 1.
vector<float, NTS_TABLE_VECTOR> table_vector(uint v)
{
    vector<float, NTS_TABLE_VECTOR> r;
    [ForceUnroll]
    for (uint c = 0; c < NTS_TABLE_VECTOR; c++) r[c] = table_value(v * NTS_TABLE_VECTOR + c);
    return r;
}
"""


def _table_encoding(encoding, language: str, table_access: str) -> str:
    """A trainable table encoding's code: the trainer's own Slang (the encoding's level file, which finds a
    level's corners, and table_features.slang, whose encode_chunk interpolates them), preceded by the
    defines the trainer compiles it with, ``table_access`` (``float table_value(uint i)``) and
    TABLE_VECTOR_ACCESS. The files
    are pasted rather than included so that the export stays one file; only their ``#pragma once`` and
    ``#include`` lines are dropped. HLSL spells Slang's [ForceUnroll] as [unroll]."""
    parts = ["// The encoding's parameters, as the trainer's shaders are compiled with them (app/encodings.py).",
             *(f"#define {name} {value}" for name, value in encoding.defines().items()), "", table_access,
             TABLE_VECTOR_ACCESS]
    for name in (encoding.slang_file, TABLE_FEATURES_FILE):
        lines = [ln for ln in (SHADER_DIR / name).read_text().splitlines()
                 if not re.match(r"\s*#\s*(pragma\s+once|include)\b", ln)]
        parts.append(f"// ---- the trainer's shaders/{name} ----\n" + "\n".join(lines).strip() + "\n")
    code = "\n".join(parts)
    return code.replace("[ForceUnroll]", "[unroll]") if language == "hlsl" else code


def _float4(items) -> str:
    items = list(items)
    return f"float4({', '.join(items + ['0.0'] * (4 - len(items)))})"


def _constant_layer(l: int, layer, act_fn: str, pad_outputs: bool) -> tuple[list[str], list[str]]:
    """(functions, lines of evaluate()) for layer l with its weights as literals.

    Straight-line code, because a dynamically indexed constant array is copied into every invocation's
    private memory (lavapipe: 11+ minutes to compile the rtxns network, ~1k px/s). Function
    nts_layer<l>_<j> computes outputs 4j..4j+3 before activation, each as bias + dot(4 weights, 4 inputs)
    + ... in input order, as infer sums them; evaluate() stores them in an array and applies activation
    and storage rounding in a loop ([loop]: compiled once, not per output, and it keeps the values in
    memory between layers: unrolled, lavapipe's LLVM spent most of its time in register allocation).
    Inputs and outputs are float4s; a partial last float4 is padded with zeros (``pad_outputs``: also
    after the activation, for the next layer)."""
    chunks_in = (layer.inputs + 3) // 4
    chunks_out = (layer.outputs + 3) // 4
    w = np.zeros((layer.outputs, 4 * chunks_in), np.float32)
    w[:, :layer.inputs] = layer.weights.reshape(layer.outputs, layer.inputs)
    src, dst = f"x{l}_", f"x{l + 1}"
    params = ", ".join(f"float4 {src}{k}" for k in range(chunks_in))
    args = ", ".join(f"x{l}[{k}]" for k in range(chunks_in))
    functions, body = [], [f"    float4 {dst}[{chunks_out}];"]
    for j in range(chunks_out):
        sums = []
        for o in range(4 * j, min(4 * j + 4, layer.outputs)):
            terms = [float_literal(layer.biases[o]) if layer.biases is not None else "0.0"]
            terms += [f"dot({_float4(float_literal(v) for v in w[o, 4 * k:4 * k + 4])}, {src}{k})"
                      for k in range(chunks_in)]
            sums.append("\n            + ".join(" + ".join(terms[i:i + 3]) for i in range(0, len(terms), 3)))
        sums += ["0.0"] * (4 - len(sums))
        functions.append(f"float4 nts_layer{l}_{j}({params})\n{{\n    return float4(\n        "
                         + ",\n        ".join(sums) + ");\n}\n")
        body.append(f"    {dst}[{j}] = nts_layer{l}_{j}({args});")
    body += [f"    [loop] for (uint j = 0u; j < {chunks_out}u; j++)",
             f"        {dst}[j] = nts_store4({act_fn}4({dst}[j]));"]
    if layer.outputs % 4 and pad_outputs:
        last = f"{dst}[{chunks_out - 1}]"
        body.append(f"    {last} = {_float4([f'{last}.{c}' for c in 'xyzw'[:layer.outputs % 4]])};")
    return functions, body


def _layer_code(l: int, inputs: int, outputs: int, has_bias: bool, act_fn: str, base: str = "") -> str:
    """Buffer mode: y = act(W x + b), products summed four inputs at a time, as the trainer's inference does.
    ``base``: an offset added to every index (a network array's tile: "base + ")."""
    src, dst = f"x{l}", f"x{l + 1}"
    def w_at(i):
        return f"nts_weights[{base}NTS_W{l} + {i}]"
    b_at = f"nts_weights[{base}NTS_B{l} + o]"
    lines = [f"    float {dst}[{outputs}];",
             f"    for (uint o = 0u; o < {outputs}u; o++)",
             "    {",
             f"        float acc = {b_at if has_bias else '0.0'};",
             f"        uint row = o * {inputs}u;"]
    full = inputs // 4
    if full:
        lines += [f"        for (uint k = 0u; k < {4 * full}u; k += 4u)",
                  f"            acc += dot(float4({w_at('row + k')}, {w_at('row + k + 1u')}, {w_at('row + k + 2u')}, "
                  f"{w_at('row + k + 3u')}),",
                  f"                       float4({src}[k], {src}[k + 1u], {src}[k + 2u], {src}[k + 3u]));"]
    tail = inputs - 4 * full
    if tail:
        w = [w_at(f"row + {4 * full + c}u") if c < tail else "0.0" for c in range(4)]
        x = [f"{src}[{4 * full + c}]" if c < tail else "0.0" for c in range(4)]
        lines.append(f"        acc += dot(float4({', '.join(w)}), float4({', '.join(x)}));")
    lines += [f"        {dst}[o] = nts_store({act_fn}(acc));", "    }"]
    return "\n".join(lines)


def _array_body(net) -> list[str]:
    """evaluate() of a network array: the tile (or the four blended tiles) at uv, as training uses them."""
    seen = "uv * t - float2(tile)" if net.local_uv else "uv"
    tile_base = "(uint(tile.y) * NTS_TILES_X + uint(tile.x)) * NTS_TILE_FLOATS"
    last = "int2(int(NTS_TILES_X) - 1, int(NTS_TILES_Y) - 1)"
    lines = ["    float2 t = float2(float(NTS_TILES_X), float(NTS_TILES_Y));"]
    if not net.blend:
        return lines + [f"    int2 tile = clamp(int2(floor(uv * t)), int2(0, 0), {last});",
                        f"    return nts_network({tile_base}, {seen});"]
    return lines + [
        "    float2 f = uv * t - 0.5;",
        "    int2 low = int2(floor(f));",
        "    float2 w = f - float2(low);",
        "    float3 sum = float3(0.0, 0.0, 0.0);",
        "    for (uint c = 0u; c < 4u; c++)",
        "    {",
        f"        int2 tile = clamp(low + int2(int(c & 1u), int(c >> 1u)), int2(0, 0), {last});",
        "        float weight = ((c & 1u) != 0u ? w.x : 1.0 - w.x) * ((c & 2u) != 0u ? w.y : 1.0 - w.y);",
        f"        sum += weight * nts_network({tile_base}, {seen});",
        "    }",
        "    return sum;"]


WEIGHT_MODES = ("constants", "buffer")

# Constants mode holds a trainable encoding's table as literals (_table_literals); larger tables are refused
# (buffer mode has no limit). lavapipe's compile time grows steeply with the table (cold cache, one thread,
# CPU seconds: 128 values 4 s, 2,048 values 13 s, 4,096 values 72 s; README).
CONSTANT_TABLE_LIMIT = 2048


def constants_fit(weights) -> bool:
    """Whether constants mode can hold the network (a trainable encoding's table within the limit)."""
    return weights.preset.encoding.parameter_count <= CONSTANT_TABLE_LIMIT


def buffer_blocks(weights, tile: int | None = None) -> list[tuple[str, np.ndarray, str]]:
    """What ``nts_weights`` holds, in order: (offset constant's name, float32 values, what they are). Per
    layer the weights row-major (outputs x inputs), then the biases (the app's compact order), then a
    trainable encoding's table (entry e, feature j at e * features + j); float16 networks: float16 values."""
    blocks = []
    for l, ly in enumerate(dense_layers(weights, tile)):  # tile: of a network array (which has no table)
        blocks.append((f"NTS_W{l}", ly.weights.reshape(-1), f"layer {l}: {ly.inputs} inputs -> {ly.outputs} outputs, "
                                                            f"{ly.activation}"))
        if ly.biases is not None:
            blocks.append((f"NTS_B{l}", ly.biases, f"layer {l}'s biases"))
    table = encoding_table(weights)
    if table is not None:
        blocks.append(("NTS_T", table.reshape(-1), f"the {weights.preset.encoding.otype} table: {table.shape[0]} "
                                                   f"entries x {table.shape[1]} features"))
    return blocks


def weights_buffer(weights) -> np.ndarray:
    """The float32 contents of ``nts_weights`` for buffer-mode shaders (``buffer_blocks`` one after the other;
    a network array's tiles one after the other, each laid out as ``buffer_blocks`` of that tile)."""
    net = weights.preset.network
    tiles = range(net.tile_count) if net.is_array else [None]
    return np.concatenate([values for t in tiles for _, values, _ in buffer_blocks(weights, t)]).astype("<f4")


def _table_literals(table: np.ndarray) -> str:
    """``table_value(i)`` over the table's values as literals: a binary tree of branches on i / 4 whose leaves
    return four values as a float4 literal. Not a ``static const`` array: lavapipe copies a dynamically
    indexed constant array into every invocation's private memory (2,048 values: 70 s of CPU to compile,
    10x slower to run than the tree; a float4 array: 82 s; a switch over i compiles like the tree but runs
    7x slower than it)."""
    values = [float_literal(v) for v in table.reshape(-1)]
    values += ["0.0"] * (-len(values) % 4)

    def node(lo: int, hi: int, indent: str) -> list[str]:
        if hi - lo == 1:
            return [f"{indent}return float4({', '.join(values[4 * lo:4 * lo + 4])});"]
        mid = (lo + hi) // 2
        inner = indent + "    "
        return ([f"{indent}if (q < {mid}u)", f"{indent}{{"] + node(lo, mid, inner) + [f"{indent}}}", f"{indent}else",
                 f"{indent}{{"] + node(mid, hi, inner) + [f"{indent}}}"])

    return ("// Table values 4q .. 4q+3.\nfloat4 nts_table4(uint q)\n{\n" + "\n".join(node(0, len(values) // 4, "    "))
            + "\n}\n\nfloat table_value(uint i)\n{\n    float4 v = nts_table4(i >> 2u);\n    return v[i & 3u];\n}\n")


def generate(weights, language: str, weights_in: str = "constants") -> str:
    """The shader source (``language`` 'slang' or 'hlsl') for a WeightsFile, with the weights as
    literals in the code or (``weights_in`` 'buffer') read from ``StructuredBuffer<float> nts_weights``."""
    if language not in ("slang", "hlsl"):
        raise StudioError(f"unknown shader language {language!r}; choose slang or hlsl")
    if weights_in not in WEIGHT_MODES:
        raise StudioError(f"unknown shader weight storage {weights_in!r}; choose constants or buffer")
    buffer = weights_in == "buffer"
    preset = weights.preset
    net, encoding = preset.network, preset.encoding
    if net.is_array and not buffer:
        raise StudioError(f"a network array exports with its weights in a buffer (--shader-weights buffer): as "
                          f"constants its {net.tile_count} networks would be {net.tile_count} copies of the code")
    layers = dense_layers(weights, 0 if net.is_array else None)  # every tile has this shape
    table = encoding_table(weights)
    if not buffer and not constants_fit(weights):
        raise StudioError(f"the {encoding.otype} table has {table.size:,} values, more than constants mode holds "
                          f"({CONSTANT_TABLE_LIMIT:,}: larger tables compile too slowly); pass --shader-weights buffer")
    if table is None:
        helper, feature = _encoding(encoding)
    else:
        access = ("float table_value(uint i)\n{\n    return nts_weights[NTS_T + i];\n}\n" if buffer
                  else _table_literals(table))
        helper, feature = _table_encoding(encoding, language, access), None
    hidden_expr = _activation(net.activation, net.leaky_relu_alpha)
    output_expr = _activation(net.output_activation, net.leaky_relu_alpha)
    dims = encoding.output_dims
    chunks = (dims + 3) // 4
    store4 = "    return nts_round_half4_flat(x);" if net.half else "    return x;"
    if net.half:
        store = "    return nts_round_half(x);"
        store_doc = ("float16 network: the encoded inputs and every layer's outputs are rounded to float16 "
                     "(nearest, ties to even), as training and infer store them")
    else:
        store, store_doc = "    return x;", "float32 network: values between layers stay float32"
    shapes = " -> ".join([f"{dims} inputs"] + [f"{ly.outputs} {ly.activation}" for ly in layers])
    enc_cfg = ", ".join(f"{k} {v}" for k, v in encoding.to_config().items() if k != "otype")
    computed_by = ("computed by nts_feature(uv, f)" if table is None else
                   "four at a time by encode_chunk(uv, k), the trainer's own code")
    parts = [
        f"// Neural Texture Studio inference shader ({'Slang' if language == 'slang' else 'HLSL'}), generated from "
        f"preset {preset.name!r}.",
        "// Self-contained: paste it into a shader or load it as a module; it includes nothing"
        + (" (the weights come in a buffer, below)." if buffer else "."),
        "//",
        "//   float3 evaluate(float2 uv)  -> the network's RGB (unclamped) at uv",
        f"//   {UV_CONVENTION}.",
        "//",
        f"// Encoding: {encoding.otype}{f' ({enc_cfg})' if enc_cfg else ''}, {dims} features from (u, v), "
        f"{computed_by}.",
        f"// Network: {shapes} (dense layers, {'with' if net.bias else 'without'} biases).",
        f"// {store_doc}.",
    ]
    if table is not None:
        parts += [
            f"// Table: {table.shape[0]} entries of {table.shape[1]} features (entry e, feature j at e * "
            f"{table.shape[1]} + j), read by table_value(i);",
            "// its levels, hashing and interpolation are the trainer's shaders, pasted below with their defines"
            " (names without the nts_ prefix).",
        ]
    if buffer:
        blocks = buffer_blocks(weights, 0 if net.is_array else None)
        parts += [
            "// Weights: read from nts_weights, float32, one layer after the other: layer l's matrix row-major from",
            "// NTS_W<l> (element NTS_W<l> + o * inputs + i multiplies input i for output o), then its biases from",
            "// NTS_B<l>" + ("; after the layers the encoding's table from NTS_T" if table is not None else "")
            + ". Layer l computes x<l+1>[o] = act(b[o] + sum_i W[o * inputs + i] * x<l>[i]). Bind the",
            f"// {weights_buffer(weights).size} floats "
            "written beside this file (.weights.bin, little-endian float32) to nts_weights.",
            "",
            "StructuredBuffer<float> nts_weights;  // no register given: add one that fits your root signature",
        ]
        at = 0
        for name, values, what in blocks:
            parts.append(f"static const uint {name} = {at}u;  // {what}")
            at += values.size
        if net.is_array:
            parts += [f"// Network array: {net.tiles[0]} x {net.tiles[1]} tiles, each with its own network; tile t's "
                      "weights start at t * NTS_TILE_FLOATS (the offsets above are within a tile).",
                      f"// Tiles: {ARRAY_RULE}.",
                      f"static const uint NTS_TILE_FLOATS = {at}u;",
                      f"static const uint NTS_TILES_X = {net.tiles[0]}u;", f"static const uint NTS_TILES_Y = {net.tiles[1]}u;"]
        parts.append("")
    else:
        parts += [
            "// Weights: literals in nts_layer<l>_<j>(x<l>_0, ...), which returns outputs 4j..4j+3 of layer l before",
            "// its activation: bias + dot(weights of inputs 0..3, x<l>_0) + dot(weights of inputs 4..7, x<l>_1) + ...",
            "// (inputs and outputs in float4s, the last one padded with zeros). Layer l computes",
            "// x<l+1>[o] = act(b[o] + sum_i W[o][i] * x<l>[i])."
            + (" The table's values are literals in nts_table4(q)." if table is not None else ""),
            "",
        ]
    if net.half:
        parts.append(ROUND_HALF if buffer else ROUND_HALF4)
    if buffer:
        parts.append("float nts_store(float x)\n{\n" + store + "\n}\n")
    else:
        parts.append("float4 nts_store4(float4 x)\n{\n" + store4 + "\n}\n")
    for role, expr in (("hidden", hidden_expr), ("output", output_expr)):
        parts.append(f"float nts_{role}_activation(float x)\n{{\n    return {expr};\n}}\n")
        if not buffer:
            parts.append(f"float4 nts_{role}_activation4(float4 v)\n{{\n    return float4(nts_{role}_activation(v.x), "
                         f"nts_{role}_activation(v.y), nts_{role}_activation(v.z), nts_{role}_activation(v.w));\n}}\n")
    if helper:
        parts.append(helper)
    if feature is not None:
        parts.append(f"// Feature f < {dims} of the {encoding.otype} encoding of uv.\n"
                     f"float nts_feature(float2 uv, uint f)\n{{\n{feature}\n}}\n")
    last = len(layers) - 1
    if buffer:
        if feature is not None:
            body = [f"    float x0[{dims}];",
                    f"    for (uint f = 0u; f < {dims}u; f++)",
                    "        x0[f] = nts_store(nts_feature(uv, f));"]
        else:  # as the trainer's write_encoding: chunks of four features, then storage rounding
            body = [f"    float x0[{4 * chunks}];",
                    f"    for (uint k = 0u; k < {chunks}u; k++)",
                    "    {",
                    "        float4 c = encode_chunk(uv, k);",
                    "        x0[4u * k] = nts_store(c.x);",
                    "        x0[4u * k + 1u] = nts_store(c.y);",
                    "        x0[4u * k + 2u] = nts_store(c.z);",
                    "        x0[4u * k + 3u] = nts_store(c.w);",
                    "    }"]
        for l, ly in enumerate(layers):
            act_fn = "nts_output_activation" if l == last else "nts_hidden_activation"
            body.append(_layer_code(l, ly.inputs, ly.outputs, ly.biases is not None, act_fn,
                                    "base + " if net.is_array else ""))
        body.append(f"    return float3(x{last + 1}[0], x{last + 1}[1], x{last + 1}[2]);")
        if net.is_array:
            parts.append("// The network whose weights start at nts_weights[base], at the uv it sees.\n"
                         "float3 nts_network(uint base, float2 uv)\n{\n" + "\n".join(body) + "\n}\n")
            body = _array_body(net)
    else:
        body = [f"    float4 x0[{chunks}];"]
        if feature is not None:
            features = [f"nts_feature(uv, {f}u)" for f in range(dims)]
            body += [f"    x0[{j}] = nts_store4({_float4(features[4 * j:4 * j + 4])});" for j in range(chunks)]
        else:
            body += [f"    [loop] for (uint k = 0u; k < {chunks}u; k++)",
                     "        x0[k] = nts_store4(encode_chunk(uv, k));"]
        for l, ly in enumerate(layers):
            act_fn = "nts_output_activation" if l == last else "nts_hidden_activation"
            functions, lines = _constant_layer(l, ly, act_fn, pad_outputs=l < last)
            parts += functions
            body += lines
        body.append(f"    return x{last + 1}[0].xyz;")
    parts.append("float3 evaluate(float2 uv)\n{\n" + "\n".join(body) + "\n}\n")
    if language == "hlsl":
        parts.append(
            "#ifdef NTS_EXAMPLE_ENTRY\n"
            "// Example: fill a texture with the network's image (dispatch ceil(W/8) x ceil(H/8) groups).\n"
            "RWTexture2D<float4> nts_output;\n\n"
            "[numthreads(8, 8, 1)]\n"
            "void nts_render(uint3 id : SV_DispatchThreadID)\n{\n"
            "    uint width, height;\n"
            "    nts_output.GetDimensions(width, height);\n"
            "    if (id.x >= width || id.y >= height)\n        return;\n"
            "    float2 uv = (float2(id.xy) + 0.5) / float2(width, height);\n"
            "    nts_output[id.xy] = float4(evaluate(uv), 1.0);\n}\n"
            "#endif\n")
    return "\n".join(parts)
