"""Exports for Python and for any language with a JSON parser.

``npz`` (numpy.savez, no pickles: ``np.load(path)`` reads it with the default allow_pickle=False):
    layer_<l>_weights  float32 (outputs, inputs), row-major W_l; network arrays: (tiles, outputs, inputs)
    layer_<l>_biases   float32 (outputs,) or (tiles, outputs)  (absent for networks without biases)
    encoding           JSON text (0-d unicode array): the encoding's config, sizes and formula; for a
                       trainable encoding also its table's arrangement, hash primes and levels
    encoding_table     float32 (entries, features per level): a trainable encoding's table (absent otherwise)
    network            JSON text: architecture, activations, precision, evaluation rule, uv convention
    preset             JSON text: the full preset the network was trained with

``json`` (documented, version 1):
    {"format": "neural-texture-studio-network", "version": 1,
     "encoding": {...}, "network": {...}, "preset": {...}, "texture_size": [W, H], "transform": "none",
     "arrays": "plain" | "base64",
     "encoding_table": [...entries*features numbers...] | "<base64 of little-endian float32>",  (trainable
                       encodings only; entry e, feature j at e * features + j, described in "encoding")
     "layers": [{"inputs": I, "outputs": O, "activation": "leaky_relu",
                 "weights": [...O*I numbers, row-major...] | "<base64 of O*I little-endian float32>",
                 "biases": [...O numbers...] | "<base64 of O little-endian float32>"}]}
    Biases are omitted for networks without them. Float16 networks store their float16 values
    (exactly representable in float32 and in JSON decimals), their table too. Network arrays (network.tiles
    present): each layer has "tiles": T and its weights and biases hold every tile's, tile after tile (plain:
    one list per tile; base64: T*O*I values); network.tile_rule says which tiles a uv uses.

The encoding's description (common.encoding_description, its keys declared in common.DESCRIBED_KEYS) is
the same in both formats and in RTXNS sidecars; the table's array has one name (common.TABLE_ARRAY).
"""
from __future__ import annotations

import base64
import io
import json

import numpy as np

from ..errors import StudioError
from .common import TABLE_ARRAY, encoding_description, encoding_table, network_description, tile_dense_layers

JSON_FORMAT = "neural-texture-studio-network"
JSON_VERSION = 1
ARRAY_MODES = ("plain", "base64")


def _encoding(weights) -> dict:
    return encoding_description(weights.preset.encoding, weights.preset.network.half)


def npz_bytes(weights) -> bytes:
    arrays = {}
    tiles = tile_dense_layers(weights)
    stack = (lambda parts: np.stack(parts)) if weights.preset.network.is_array else (lambda parts: parts[0])
    for l, layer in enumerate(tiles[0]):
        arrays[f"layer_{l}_weights"] = stack([t[l].weights for t in tiles])
        if layer.biases is not None:
            arrays[f"layer_{l}_biases"] = stack([t[l].biases for t in tiles])
    table = encoding_table(weights)
    if table is not None:
        arrays[TABLE_ARRAY] = table
    arrays["encoding"] = np.array(json.dumps(_encoding(weights)))
    arrays["network"] = np.array(json.dumps(network_description(weights)))
    arrays["preset"] = np.array(json.dumps({"name": weights.preset.name, **weights.preset.to_dict()}))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _array(values: np.ndarray, mode: str):
    values = np.asarray(values, np.float32).reshape(-1)
    if mode == "base64":
        return base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")
    return [float(v) for v in values]


def json_bytes(weights, arrays: str = "plain") -> bytes:
    if arrays not in ARRAY_MODES:
        raise StudioError(f"unknown array encoding {arrays!r}; choose plain or base64")
    layers = []
    tiles = tile_dense_layers(weights)
    array = weights.preset.network.is_array
    for l, layer in enumerate(tiles[0]):
        def values(part):
            if not array:
                return _array(part(layer), arrays)
            if arrays == "base64":
                return _array(np.concatenate([part(t[l]).reshape(-1) for t in tiles]), arrays)
            return [_array(part(t[l]), arrays) for t in tiles]
        entry = {"inputs": layer.inputs, "outputs": layer.outputs, "activation": layer.activation,
                 **({"tiles": len(tiles)} if array else {}), "weights": values(lambda ly: ly.weights)}
        if layer.biases is not None:
            entry["biases"] = values(lambda ly: ly.biases)
        layers.append(entry)
    doc = {
        "format": JSON_FORMAT, "version": JSON_VERSION,
        "encoding": _encoding(weights),
        "network": network_description(weights),
        "preset": {"name": weights.preset.name, **weights.preset.to_dict()},
        "texture_size": list(weights.texture_size), "transform": weights.transform,
        "arrays": arrays,
        "array_format": ("row-major weights (outputs x inputs) and biases as "
                         + ("JSON numbers" if arrays == "plain" else "base64 of little-endian float32")),
        "layers": layers,
    }
    table = encoding_table(weights)
    if table is not None:
        doc[TABLE_ARRAY] = _array(table, arrays)
    return (json.dumps(doc, indent=1) + "\n").encode()
