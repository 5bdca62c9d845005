"""The JSON sidecar written beside RTXNS exports (``NAME.encoding.json`` next to ``NAME``).

RTXNS's files hold layer sizes and float16 values only: no input encoding, activations or training
context. The sidecar records them so that other software knows how to feed the network and so that
importing the file back restores the network exactly. It names its network file and that file's
SHA-256; a sidecar that does not match its file is refused rather than guessed around.

    {"format": "neural-texture-studio-rtxns-sidecar", "version": 1,
     "network_file": "w.bin", "network_sha256": "<hex>",
     "encoding": {"otype": "frequency", "n_frequencies": 3, "inputs": 2, "outputs": 12, "formula": "..."},
     "network": {"inputs": 12, "outputs": 3, "hidden_width": 64, "n_hidden_layers": 4, "activation": "leaky_relu",
                 "output_activation": "sigmoid", "leaky_relu_alpha": 0.01, "precision": "float16", ...},
     "preset": {...the full preset...}, "preset_name": "...", "texture_size": [W, H], "transform": "none"}
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import StudioError
from ..jsonfile import parse_json
from .common import DESCRIBED_KEYS, encoding_description, network_description

FORMAT = "neural-texture-studio-rtxns-sidecar"
VERSION = 1
SUFFIX = ".encoding.json"
MAX_BYTES = 1 << 20


def sidecar_path(network_path: str | Path) -> Path:
    path = Path(network_path)
    return path.with_name(path.name + SUFFIX)


def make_sidecar(weights, network_bytes: bytes, network_name: str) -> bytes:
    from dataclasses import replace
    preset = weights.preset
    if not preset.network.bias:  # RTXNS layers always have biases: the file stores zeros, imports train them
        preset = replace(preset, network=replace(preset.network, bias=True))
    doc = {
        "format": FORMAT, "version": VERSION,
        "network_file": network_name, "network_sha256": hashlib.sha256(network_bytes).hexdigest(),
        "encoding": encoding_description(weights.preset.encoding),
        "network": network_description(weights),
        "preset": preset.to_dict(), "preset_name": preset.name,
        "texture_size": list(weights.texture_size), "transform": weights.transform,
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


@dataclass
class Sidecar:
    name: str
    encoding: object
    activation: str
    output_activation: str
    leaky_relu_alpha: float
    preset: object | None
    texture_size: tuple[int, int]
    transform: str


def read_sidecar(path: Path, network_bytes: bytes, network_name: str) -> Sidecar:
    """Parses and checks a sidecar against the network file's bytes."""
    from ..activations import activation_name
    from ..encodings import encoding_from_config
    from ..preset import Preset
    from ..texture import TRANSFORMS
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise StudioError(f"cannot read {name}: {err.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise StudioError(f"{name} is {len(raw)} bytes; a sidecar is a small JSON file (damaged?)")
    doc = parse_json(raw, f"{name} (the encoding sidecar of {network_name})")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StudioError(f"{name} is not a Neural Texture Studio sidecar (no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StudioError(f"{name} has an invalid version {repr(version)[:60]}")
    if version > VERSION:
        raise StudioError(f"{name} was written by a newer version (sidecar v{version}); update Neural Texture Studio")
    if doc.get("network_sha256") != hashlib.sha256(network_bytes).hexdigest():
        raise StudioError(f"{name} describes a different network file than {network_name} (SHA-256 mismatch); "
                          "delete or fix it, or describe the network with --encoding, --hidden-activation and "
                          "--output-activation")
    where = f"{name}"
    try:
        enc_doc = doc.get("encoding")
        if not isinstance(enc_doc, dict):
            raise StudioError(f"{where} has no \"encoding\" object")
        encoding = encoding_from_config({k: v for k, v in enc_doc.items() if k not in DESCRIBED_KEYS},
                                        f"{where}: encoding")
        net = doc.get("network")
        if not isinstance(net, dict):
            raise StudioError(f"{where} has no \"network\" object")
        activation = activation_name(net.get("activation"), f"{where}: network.activation")
        output_activation = activation_name(net.get("output_activation"), f"{where}: network.output_activation")
        alpha = net.get("leaky_relu_alpha", 0.01)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise StudioError(f"{where}: network.leaky_relu_alpha must be a number in [0, 1], not {repr(alpha)[:60]}")
        preset = None
        if "preset" in doc:
            preset = Preset.from_dict(doc["preset"], str(doc.get("preset_name", "imported")))
    except StudioError as err:
        msg = str(err)
        raise StudioError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    size = doc.get("texture_size", [0, 0])
    if not (isinstance(size, list) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1 << 16 for v in size)):
        raise StudioError(f"{name} has an invalid texture_size {repr(size)[:60]}")
    transform = doc.get("transform", "none")
    if not isinstance(transform, str) or transform not in TRANSFORMS:
        raise StudioError(f"{name} has an unknown transform {repr(transform)[:60]}")
    return Sidecar(name, encoding, activation, output_activation, float(alpha), preset, (size[0], size[1]), transform)
