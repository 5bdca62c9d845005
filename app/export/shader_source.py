"""Self-contained inference shaders: the encoding, the weights as constants and the activations in one
Slang module or HLSL file that an engine pastes in, defining

    float3 evaluate(float2 uv)   // uv in [0,1]^2; pixel (x, y) of W x H at ((x + 0.5) / W, (y + 0.5) / H)

The code mirrors what ``infer`` computes: each layer starts from its bias and adds the products four
inputs at a time (``dot`` of float4s, the missing tail padded with zeros), then applies its activation;
float16 networks round the encoded inputs and every layer's outputs to float16. That rounding is done
with integer operations (round to nearest, ties to even, as numpy and RTXNS's host conversion do), because
compilers may drop a float -> half -> float round trip and drivers round hardware conversions
differently. The Slang module loads directly with slangpy
(``spy.Module.load_from_file(device, path).evaluate(uv)``); the HLSL file uses only HLSL 5 features
and, with ``NTS_EXAMPLE_ENTRY`` defined, adds a compute entry point ``nts_render`` that fills a texture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StudioError
from .common import ARRAY_RULE, UV_CONVENTION, dense_layers, float_literal, tile_dense_layers

PI = "3.14159265358979"

# float -> nearest float16 value (ties to even) -> float, with integer operations only; identical in
# Slang and HLSL: the project's own (shaders/half_rounding.slang), pasted so the export includes nothing.
# ROUND_HALF: nts_round_half (scalar, branches; buffer mode); ROUND_HALF4: nts_round_half4_flat (four
# values, no branches; constants mode inlines it once per four outputs).
_ROUNDING = (Path(__file__).resolve().parents[2] / "shaders" / "half_rounding.slang").read_text().split(
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
    if encoding.parameter_count:
        raise StudioError(f"encoding {otype} has trainable parameters; the shader export cannot hold them yet")
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


def weights_buffer(weights) -> np.ndarray:
    """The float32 contents of ``nts_weights`` for buffer-mode shaders: per layer the weights row-major
    (outputs x inputs), then the biases (the app's compact order; float16 networks: float16 values); a
    network array's tiles one after the other."""
    parts = []
    for layers in tile_dense_layers(weights):
        for layer in layers:
            parts.append(layer.weights.reshape(-1))
            if layer.biases is not None:
                parts.append(layer.biases)
    return np.concatenate(parts).astype("<f4")


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
    helper, feature = _encoding(encoding)
    layers = dense_layers(weights, 0 if net.is_array else None)  # every tile has this shape
    hidden_expr = _activation(net.activation, net.leaky_relu_alpha)
    output_expr = _activation(net.output_activation, net.leaky_relu_alpha)
    dims = encoding.output_dims
    store4 = "    return nts_round_half4_flat(x);" if net.half else "    return x;"
    if net.half:
        store = "    return nts_round_half(x);"
        store_doc = ("float16 network: the encoded inputs and every layer's outputs are rounded to float16 "
                     "(nearest, ties to even), as training and infer store them")
    else:
        store, store_doc = "    return x;", "float32 network: values between layers stay float32"
    shapes = " -> ".join([f"{dims} inputs"] + [f"{ly.outputs} {ly.activation}" for ly in layers])
    enc_cfg = ", ".join(f"{k} {v}" for k, v in encoding.to_config().items() if k != "otype")
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
        "computed by nts_feature(uv, f).",
        f"// Network: {shapes} (dense layers, {'with' if net.bias else 'without'} biases).",
        f"// {store_doc}.",
    ]
    if buffer:
        parts += [
            "// Weights: read from nts_weights, float32, one layer after the other: layer l's matrix row-major from",
            "// NTS_W<l> (element NTS_W<l> + o * inputs + i multiplies input i for output o), then its biases from",
            "// NTS_B<l>. Layer l computes x<l+1>[o] = act(b[o] + sum_i W[o * inputs + i] * x<l>[i]). Bind the",
            f"// {net.tile_count * sum(ly.weights.size + (0 if ly.biases is None else ly.biases.size) for ly in layers)} floats "
            "written beside this file (.weights.bin, little-endian float32) to nts_weights.",
            "",
            "StructuredBuffer<float> nts_weights;  // no register given: add one that fits your root signature",
        ]
        at = 0
        for l, ly in enumerate(layers):
            parts.append(f"static const uint NTS_W{l} = {at}u;  // layer {l}: {ly.inputs} inputs -> {ly.outputs} "
                         f"outputs, {ly.activation}")
            at += ly.weights.size
            if ly.biases is not None:
                parts.append(f"static const uint NTS_B{l} = {at}u;")
                at += ly.biases.size
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
            "// x<l+1>[o] = act(b[o] + sum_i W[o][i] * x<l>[i]).",
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
    parts.append(f"// Feature f < {dims} of the {encoding.otype} encoding of uv.\n"
                 f"float nts_feature(float2 uv, uint f)\n{{\n{feature}\n}}\n")
    last = len(layers) - 1
    if buffer:
        body = [f"    float x0[{dims}];",
                f"    for (uint f = 0u; f < {dims}u; f++)",
                "        x0[f] = nts_store(nts_feature(uv, f));"]
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
        features = [f"nts_feature(uv, {f}u)" for f in range(dims)]
        body = [f"    float4 x0[{(dims + 3) // 4}];"]
        body += [f"    x0[{j}] = nts_store4({_float4(features[4 * j:4 * j + 4])});" for j in range((dims + 3) // 4)]
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
