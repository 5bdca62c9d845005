"""The JSON network description of RTXNS's SlangPy samples (written by ``serialize`` in
samples/SlangpyTraining/NeuralModules.py, read by ``HostNetwork::InitialiseFromJson`` in C++):

    {"layers": [{"num_inputs": 12, "num_outputs": 64,
                 "weights": [... outputs x inputs values, row-major ...],
                 "biases": [... outputs values ...]}, ...]}

RTXNS's C++ reader takes 2 to 8 layers, reads the hidden width from the first layer's outputs and
rounds every value to float16. Keys it does not know are ignored by it and by this reader.
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import StudioError
from ..jsonfile import parse_json

MAX_BYTES = 64 << 20
MAX_WIDTH = 1 << 16


def encode_rtxns_json(layers: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    doc = {"layers": [{"num_inputs": int(w.shape[1]), "num_outputs": int(w.shape[0]),
                       "weights": [float(v) for v in np.asarray(w, np.float32).reshape(-1)],
                       "biases": [float(v) for v in np.asarray(b, np.float32).reshape(-1)]}
                      for w, b in layers]}
    return (json.dumps(doc, indent=4) + "\n").encode()


def _count(layer: dict, key: str, where: str) -> int:
    value = layer.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise StudioError(f"{where}.{key} must be an integer, not {repr(value)[:40]}")
    if not 1 <= value <= MAX_WIDTH:
        raise StudioError(f"{where}.{key} = {value} is out of range [1, {MAX_WIDTH}]")
    return value


def _numbers(layer: dict, key: str, count: int, where: str, shape: str) -> np.ndarray:
    values = layer.get(key)
    if not isinstance(values, list):
        raise StudioError(f"{where}.{key} must be a list of numbers")
    if len(values) != count:
        raise StudioError(f"{where}.{key} has {len(values)} values, not {count} ({shape})")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise StudioError(f"{where}.{key}[{i}] is not a number: {repr(v)[:40]}")
    try:
        arr = np.array(values, np.float64)
    except OverflowError:  # integers beyond float64
        raise StudioError(f"{where}.{key} holds a value too large for a float") from None
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > np.finfo(np.float32).max):
        raise StudioError(f"{where}.{key} holds a value that is not a finite float32")
    return arr.astype(np.float32)


def decode_rtxns_json(data: bytes, name: str = "network") -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W float32 (outputs x inputs), b float32)] from RTXNS JSON; StudioError for anything malformed."""
    if len(data) > MAX_BYTES:
        raise StudioError(f"{name} is {len(data)} bytes, too large for a network description")
    doc = parse_json(data, name, bom=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise StudioError(f"{name} is not an RTXNS network description (no \"layers\" list)")
    if not doc["layers"]:
        raise StudioError(f"{name} has an empty \"layers\" list")
    out = []
    for l, layer in enumerate(doc["layers"]):
        where = f"{name}: layers[{l}]"
        if not isinstance(layer, dict):
            raise StudioError(f"{where} must be an object")
        inputs, outputs = _count(layer, "num_inputs", where), _count(layer, "num_outputs", where)
        if out and inputs != out[-1][0].shape[0]:
            raise StudioError(f"{where} has {inputs} inputs but the layer before it has {out[-1][0].shape[0]} outputs")
        if inputs * outputs > MAX_BYTES:
            raise StudioError(f"{where} is {inputs} x {outputs}, too large for a network description")
        shape = f"{outputs} outputs x {inputs} inputs"
        w = _numbers(layer, "weights", inputs * outputs, where, shape).reshape(outputs, inputs)
        b = _numbers(layer, "biases", outputs, where, f"{outputs} outputs")
        out.append((w, b))
    return out


def float16_exact(layers: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """True when every value is a float16 value (as RTXNS's writers produce)."""
    with np.errstate(over="ignore"):
        return all(np.array_equal(arr.astype(np.float16).astype(np.float32), arr) for pair in layers for arr in pair)
