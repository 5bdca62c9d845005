"""What every export and import shares: the network as a list of dense layers, the documented
description of its encoding and activations, and float16 checks.

A network here is what ``infer`` evaluates: ``x0 = encode(uv)``, then per layer ``l``
``x(l+1) = act_l(W_l x_l + b_l)`` with ``W_l`` stored row-major (outputs x inputs), hidden layers using
the hidden activation and the last layer the output activation; the first three outputs are RGB.
Float16 networks round the encoded inputs and every layer's outputs to float16 (their storage
precision) and use float16 weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import StudioError
from ..jsonfile import parse_json, shown

FLOAT16_MAX = 65504.0

# The pixel-centre convention of `infer` (and of every exported shader's evaluate()).
UV_CONVENTION = ("uv in [0,1]^2 with (0,0) the top-left corner of the image; pixel (x, y) of a W x H image "
                 "is evaluated at uv = ((x + 0.5) / W, (y + 0.5) / H)")

# Formulas of the encodings, for people reading an exported description. Channel c is u (0) or v (1).
ENCODING_FORMULAS = {
    "identity": "x = (u, v)",
    "frequency": ("for c in (u, v), for k < n_frequencies: sin(2^k * pi * x_c), cos(2^k * pi * x_c) "
                  "(channel-major; with n_frequencies = 3 this is RTXNS EncodeFrequency: sin(pi x), cos(pi x), "
                  "sin(2 pi x), cos(2 pi x), sin(4 pi x), cos(4 pi x) per input)"),
    "sin": ("for c in (u, v), for i < octaves: t = 2^i * x_c + i * shift; sin(2 pi frac(t)), cos(2 pi frac(t)) "
            "(channel-major, Dr.Jit SinEncode)"),
    "tri": ("for c in (u, v), for i < octaves: t = 2^i * x_c + i * shift; cos_tri(t - 1/4), cos_tri(t) with "
            "cos_tri(t) = 1 - 4 |t - round(t)| (channel-major, Dr.Jit TriEncode)"),
    "triangle_wave": ("for c in (u, v), for j < n_frequencies: v = 2^(j-1) * x_c + j/4; 4 |v - floor(v) - 1/2| - 1 "
                      "(channel-major, tiny-cuda-nn TriangleWave)"),
    "one_blob": ("for c in (u, v), for k < n_bins: the mass in [k/n_bins, (k+1)/n_bins] of a quartic kernel of "
                 "radius 1/n_bins centred at x_c, wrapping around [0, 1) (channel-major, tiny-cuda-nn OneBlob)"),
    "hash_grid": ("level-major, then feature: for level l, p = uv * scale_l + 0.5, cell = floor(p), w = p - cell; "
                  "feature j = sum over the corners (0,0), (1,0), (0,1), (1,1) in that order of the bilinear weight "
                  "((1-w.x)(1-w.y), w.x(1-w.y), (1-w.x)w.y, w.x w.y) times table[index_l(cell + corner)][j], "
                  "summed in float32 (Instant NGP / tiny-cuda-nn HashGrid; index_l: see level_fields.dense)"),
    "permuto": ("level-major, then feature: for level l, p = uv * scale_l + shift_l is lifted onto the plane "
                "x0 + x1 + x2 = 0 of the A2* lattice (e = (p.y/sqrt(6) + p.x/sqrt(2), p.y/sqrt(6) - p.x/sqrt(2), "
                "-2 p.y/sqrt(6))); the 3 vertices of its enclosing simplex get barycentric weights and are hashed "
                "from their first two lattice coordinates; feature j = sum over the vertices of weight times "
                "table[offset_l + hash % size_l][j] (PermutoSDF, tiny-cuda-nn Permuto; the exact steps are "
                "level_corners in the Slang/HLSL export and shaders/encodings/permuto.slang)"),
}

ACTIVATION_FORMULAS = {
    "none": "y = x", "relu": "y = max(x, 0)", "leaky_relu": "y = x > 0 ? x : alpha * x",
    "sigmoid": "y = 1 / (1 + exp(-x))", "tanh": "y = tanh(x)", "exp": "y = exp(x)", "exp2": "y = 2^x",
    "softplus": "y = x > 20 ? x : log(1 + exp(x))", "silu": "y = x / (1 + exp(-x))", "sine": "y = sin(x)",
}


@dataclass
class DenseLayer:
    weights: np.ndarray          # float32 (outputs, inputs), row-major
    biases: np.ndarray | None    # float32 (outputs,) or None for networks without biases
    activation: str

    @property
    def inputs(self) -> int:
        return self.weights.shape[1]

    @property
    def outputs(self) -> int:
        return self.weights.shape[0]


def inference_parameters(weights) -> np.ndarray:
    """All parameters of a WeightsFile (the MLP's, then a trainable encoding's table) with the values
    ``infer`` computes with: float16 networks read float16-rounded weights and a float16 table."""
    params = np.asarray(weights.parameters, np.float32)
    if not np.all(np.isfinite(params)):
        raise StudioError("the network has NaN or infinite parameters; nothing to export")
    if weights.preset.network.half:
        check_float16_range(params, "the network")
        params = params.astype(np.float16).astype(np.float32)
    return params


def dense_layers(weights, tile: int | None = None) -> list[DenseLayer]:
    """The network of a WeightsFile as dense layers, with the values ``infer`` computes with (float16
    networks: float16-rounded); of network array's ``tile`` (row-major, t = ty * TX + tx)."""
    from dataclasses import replace
    net = weights.preset.network
    params, layout = inference_parameters(weights), weights.layout
    if net.is_array:
        if tile is None:
            raise StudioError(f"this is an array of {layout.tiles} networks (otype array): say which tile's layers")
        n = layout.tile_parameter_count
        params, layout = params[tile * n:(tile + 1) * n], replace(layout, tiles=1)
    pairs = layout.layers_of(params)
    last = len(pairs) - 1
    return [DenseLayer(np.array(w, np.float32), None if b is None else np.array(b, np.float32),
                       net.output_activation if l == last else net.activation) for l, (w, b) in enumerate(pairs)]


def encoding_table(weights) -> np.ndarray | None:
    """A trainable encoding's table as ``infer`` reads it, float32 (entries, features per entry): entry e,
    feature j is parameter e * features + j after the MLP's (float16 networks: float16 values). None for
    encodings without parameters."""
    encoding = weights.preset.encoding
    if not encoding.parameter_count:
        return None
    table = inference_parameters(weights)[weights.layout.parameter_count:]
    return table.reshape(-1, encoding.n_features_per_level).copy()


def tile_dense_layers(weights) -> list[list[DenseLayer]]:
    """Every tile's dense layers (one list for a single network)."""
    net = weights.preset.network
    return [dense_layers(weights, t if net.is_array else None) for t in range(net.tile_count)]


def check_float16_range(values: np.ndarray, what: str) -> None:
    big = float(np.max(np.abs(values))) if values.size else 0.0
    if big > FLOAT16_MAX:
        raise StudioError(f"{what} has a parameter of magnitude {big:g}, beyond float16's range "
                          f"(±{FLOAT16_MAX:g}); it cannot be stored as float16")


# Keys an encoding's description holds beside its config -> what they say. Writers (sidecars, npz, json)
# fill them, readers drop them before parsing the config, the README's format description names them.
DESCRIBED_KEYS = {
    "inputs": "2: (u, v)",
    "outputs": "features the network sees, x0",
    "formula": "how the features are computed from uv (and the table)",
    "table": "trainable encodings: the table's entries, features per entry, arrangement and the array holding it",
    "hash_primes": "trainable encodings: primes (p0, p1) of the XOR hash (x * p0) ^ (y * p1), uint32 arithmetic",
    "levels": "trainable encodings: one object per level, its keys explained in level_fields",
    "level_fields": "trainable encodings: what each key of a level means",
}
TABLE_ARRAY = "encoding_table"  # the npz array and json key that hold a trainable encoding's table


def encoding_description(encoding, half: bool = False) -> dict:
    """The documented, self-describing form of an encoding: its config plus its sizes and formula, and for
    trainable encodings everything needed to evaluate their table (``half``: the table holds float16 values)."""
    out = {**encoding.to_config(), "inputs": 2, "outputs": encoding.output_dims,
           "formula": ENCODING_FORMULAS.get(encoding.otype, f"Neural Texture Studio encoding {encoding.otype!r}")}
    if encoding.parameter_count:
        from ..encodings import HASH_PRIMES
        f = encoding.n_features_per_level
        out.update({
            "table": {"entries": encoding.parameter_count // f, "features": f, "array": TABLE_ARRAY,
                      "layout": f"entry e, feature j at e * {f} + j (array shape entries x features); level l's "
                                "entries are offset .. offset + size - 1 of its level",
                      "values": "float32" + (" holding float16 values (a float16 network reads its table as "
                                             "float16)" if half else "")},
            "hash_primes": list(HASH_PRIMES),
            "levels": [dict(level) for level in encoding.levels()],
            "level_fields": dict(encoding.level_fields),
        })
    return out


def network_description(weights) -> dict:
    """Architecture and evaluation rules, as written into sidecars, .npz and .json exports."""
    preset = weights.preset
    net, layout = preset.network, weights.layout
    return {
        "inputs": layout.input_dims, "outputs": 3, "hidden_width": net.n_neurons,
        "n_hidden_layers": net.n_hidden_layers, "layers": layout.layers,
        "activation": net.activation, "output_activation": net.output_activation,
        "leaky_relu_alpha": net.leaky_relu_alpha, "bias": net.bias, "precision": net.precision,
        "activation_formulas": {name: ACTIVATION_FORMULAS.get(name, name)
                                for name in dict.fromkeys((net.activation, net.output_activation))},
        "evaluation": ("x0 = encode(uv); x(l+1) = act(W_l x_l + b_l), W_l row-major outputs x inputs; hidden layers "
                       "use 'activation', the last layer 'output_activation'; outputs are RGB"
                       + ("; float16: the encoded inputs and each layer's outputs are rounded to float16"
                          if net.half else "")),
        "uv_convention": UV_CONVENTION,
        **(array_description(net) if net.is_array else {}),
    }


ARRAY_RULE = ("a network array: the texture is split into TX x TY tiles, tile (tx, ty) = index ty * TX + tx with "
              "its own network (arrays: leading tile axis). Without blending, uv uses tile "
              "(min(floor(u TX), TX - 1), min(floor(v TY), TY - 1)). With blending, f = uv * (TX, TY) - 0.5, "
              "b = floor(f), w = f - b: the output is the sum over the corners d in {0,1}^2 of "
              "((1 - d) (1 - w) + d w).x * (same).y * network(tile clamp(b + d, 0, (TX, TY) - 1)). With local_uv, "
              "tile (tx, ty)'s network sees uv * (TX, TY) - (tx, ty) (in [0, 1] inside the tile) instead of uv")


def array_description(net) -> dict:
    return {"tiles": list(net.tiles), "tile_count": net.tile_count, "blend": net.blend, "local_uv": net.local_uv,
            "tile_rule": ARRAY_RULE}


def encoding_from_spec(spec: str, where: str = "--encoding"):
    """An encoding from a command-line spec: ``identity``, ``frequency``, ``frequency:N`` or a JSON object."""
    from ..encodings import encoding_from_config
    text = spec.strip()
    if text.startswith("{"):
        config = parse_json(text, f"{where} {shown(spec)}")
    else:
        name, _, arg = text.partition(":")
        config = {"otype": name.strip()}
        if arg:
            if name.strip().lower() != "frequency":
                raise StudioError(f"{where} {spec!r}: NAME:N is for frequency only; pass other encodings as JSON, "
                                  "e.g. '{\"otype\": \"sin\", \"octaves\": 4}'")
            try:
                config["n_frequencies"] = int(arg)
            except ValueError:
                raise StudioError(f"{where} {spec!r}: N must be an integer") from None
    try:
        return encoding_from_config(config, where)
    except StudioError as err:
        raise StudioError(f"{where}: {err}") from None


def float_literal(value: float) -> str:
    """A decimal that parses back to exactly this float32 value (via float64, so no double rounding)."""
    text = repr(float(np.float32(value)))
    return text if ("e" in text or "." in text) else text + ".0"
