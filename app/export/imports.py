"""Reading networks other tools wrote: RTXNS binary files and RTXNS JSON (app/formats.py recognises them),
into the app's ``WeightsFile`` (a Preset plus compact parameters) that ``Trainer.set_parameters``,
``infer``, ``train --init`` and the window's Load use.

RTXNS files carry layer sizes and values only. What they lack comes, in this order, from the command
line (``ImportOptions``), from a sidecar ``FILE.encoding.json`` beside the file (written by this app's
RTXNS exports), or from assumptions that are reported as notes: 12 inputs are RTXNS's
``EncodeFrequency`` of the two UV coordinates, and the activations are RTXNS Simple Training's
(LeakyReLU 0.01 in hidden layers, Sigmoid output). Any other input count needs an encoding.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import StudioError
from .common import encoding_from_spec
from .layouts import convert, unpack
from .rtxns_bin import decode_rtxns
from .rtxns_json import decode_rtxns_json, float16_exact
from .sidecar import FORMAT as SIDECAR_FORMAT
from .sidecar import read_sidecar, sidecar_path

RTXNS_INPUTS = 12  # EncodeFrequency of 2 UV coordinates: 6 features each
RTXNS_HIDDEN_ACTIVATION = "leaky_relu"
RTXNS_LEAKY_ALPHA = 0.01
RTXNS_OUTPUT_ACTIVATION = "sigmoid"
OUTPUTS = 3


@dataclass(frozen=True)
class ImportOptions:
    """What an RTXNS file does not record; None: take it from the sidecar or the RTXNS defaults."""
    encoding: str | None = None
    activation: str | None = None
    output_activation: str | None = None
    leaky_relu_alpha: float | None = None

    @property
    def given(self) -> list[str]:
        flags = {"encoding": "--encoding", "activation": "--hidden-activation",
                 "output_activation": "--output-activation", "leaky_relu_alpha": "--leaky-relu-alpha"}
        return [flag for key, flag in flags.items() if getattr(self, key) is not None]

    @property
    def complete(self) -> bool:
        return self.encoding is not None and self.activation is not None and self.output_activation is not None


def looks_like_json(data: bytes) -> bool:
    """Whether a file's first bytes open a JSON object (after a byte-order mark or white space)."""
    return data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def read_rtxns_bin(data: bytes, name: str, options: ImportOptions | None = None, path: Path | None = None):
    """A WeightsFile from an RTXNS network file (``path`` locates a sidecar beside it)."""
    net = decode_rtxns(data, name)
    packed = convert(net.packed, "row_major")
    layers = [(w.astype(np.float32), b.astype(np.float32)) for w, b in unpack(packed)]
    return _to_weights(layers, "float16", name, "RTXNS network file", data, options or ImportOptions(), path)


def read_rtxns_json(data: bytes, name: str, options: ImportOptions | None = None, path: Path | None = None):
    """A WeightsFile from RTXNS JSON; float16 when every value is, else float32 (with a note)."""
    _refuse_own_json(data, name)
    layers = decode_rtxns_json(data, name)
    precision = "float16" if float16_exact(layers) else "float32"
    weights = _to_weights(layers, precision, name, "RTXNS JSON", data, options or ImportOptions(), path)
    if precision == "float32":
        weights.notes.append(f"{name} holds values that are not float16, so it was imported as a float32 network "
                             "(RTXNS itself rounds them to float16)")
    return weights


def _refuse_own_json(data: bytes, name: str) -> None:
    head = data[:4096]
    if SIDECAR_FORMAT.encode() in head:
        raise StudioError(f"{name} is an encoding sidecar; load the network file it describes")
    if b"neural-texture-studio-network" in head:
        raise StudioError(f"{name} is a Neural Texture Studio JSON export, made for other software; load the .ntsw "
                          "weights file it was exported from")


def _to_weights(layers, precision: str, name: str, source: str, data: bytes, options: ImportOptions,
                path: Path | None):
    from ..network import Layout, NetworkConfig
    from ..network_file import WeightsFile
    notes: list[str] = []
    if len(layers) < 2:
        raise StudioError(f"{name} has a single layer; Neural Texture Studio networks have 1 to 8 hidden layers")
    if len(layers) > 9:
        raise StudioError(f"{name} has {len(layers) - 1} hidden layers; Neural Texture Studio networks have 1 to 8")
    inputs, outputs = layers[0][0].shape[1], layers[-1][0].shape[0]
    if outputs != OUTPUTS:
        raise StudioError(f"{name} has {outputs} outputs; Neural Texture Studio networks output RGB (3)")
    widths = sorted({w.shape[0] for w, _ in layers[:-1]})
    if len(widths) != 1:
        raise StudioError(f"{name} has hidden layers of different widths ({', '.join(map(str, widths))}); "
                          "Neural Texture Studio networks use one hidden width")
    sidecar = None
    if not options.complete and path is not None and sidecar_path(path).is_file():
        sidecar = read_sidecar(sidecar_path(path), data, name)
    if options.encoding is not None:
        encoding = encoding_from_spec(options.encoding)
    elif sidecar is not None:
        encoding = sidecar.encoding
    elif inputs == RTXNS_INPUTS:
        encoding = encoding_from_spec("frequency:3")
        notes.append(f"{name} records no input encoding; assumed RTXNS EncodeFrequency of (u, v) for its 12 inputs "
                     "(sin/cos of pi, 2 pi, 4 pi times each coordinate); pass --encoding to choose another")
    else:
        raise StudioError(f"{name} has {inputs} inputs and records no input encoding; pass --encoding "
                          f"(identity: 2 inputs, frequency:N: 4N inputs, or a JSON object such as "
                          f"'{{\"otype\": \"one_blob\", \"n_bins\": 16}}'), or put the sidecar "
                          f"{sidecar_path(name).name} beside it")
    if encoding.output_dims != inputs:
        origin = "--encoding" if options.encoding is not None else sidecar.name
        raise StudioError(f"{origin}: encoding {encoding.otype} gives {encoding.output_dims} inputs, but {name} has "
                          f"{inputs}")
    if encoding.parameter_count:
        raise StudioError(f"encoding {encoding.otype} has trainable parameters, which {name} cannot hold")

    def pick(option, side, default, what):
        if option is not None:
            return option
        if sidecar is not None:
            return side
        assumed.append(what)
        return default

    assumed: list[str] = []
    activation = pick(options.activation, sidecar and sidecar.activation, RTXNS_HIDDEN_ACTIVATION,
                      "LeakyReLU in hidden layers")
    output_activation = pick(options.output_activation, sidecar and sidecar.output_activation,
                             RTXNS_OUTPUT_ACTIVATION, "Sigmoid output")
    if "leaky_relu" in (activation, output_activation):
        alpha = pick(options.leaky_relu_alpha, sidecar and sidecar.leaky_relu_alpha, RTXNS_LEAKY_ALPHA, "leak 0.01")
    else:
        alpha = RTXNS_LEAKY_ALPHA if options.leaky_relu_alpha is None else options.leaky_relu_alpha
    if assumed:
        notes.append(f"{name} records no activations; assumed RTXNS Simple Training's ({', '.join(assumed)}); "
                     "pass --hidden-activation, --leaky-relu-alpha or --output-activation to choose others")
    try:
        network = NetworkConfig.from_config({
            "n_neurons": widths[0], "n_hidden_layers": len(layers) - 1, "activation": activation,
            "output_activation": output_activation, "leaky_relu_alpha": float(alpha), "bias": True,
            "precision": precision})
    except StudioError as err:
        raise StudioError(f"{name} cannot be used here: {err}") from None

    if sidecar is not None and sidecar.preset is not None:
        preset = replace(sidecar.preset, encoding=encoding, network=network)
    else:
        preset = replace(_rtxns_preset(), name=Path(name).stem, description=f"imported from {source} {name}",
                         encoding=encoding, network=network)
    layout = Layout.of(encoding.output_dims, network)
    params = np.concatenate([np.concatenate([w.reshape(-1), b]) for w, b in layers]).astype(np.float32)
    if params.size != layout.parameter_count:  # guaranteed by the shape checks above
        raise StudioError(f"{name}: {params.size} parameters do not fit the network they describe")
    size = sidecar.texture_size if sidecar is not None else (0, 0)
    transform = sidecar.transform if sidecar is not None else "none"
    stats = {"imported_from": source}
    if sidecar is not None:
        notes.append(f"encoding and activations of {name} read from {sidecar.name}")
    return WeightsFile(preset, params, size, transform, stats, notes=notes)


def _rtxns_preset():
    """Training settings for imported RTXNS networks: the bundled RTXNS Simple Training preset."""
    from ..preset import Preset, load_preset
    try:
        return load_preset("rtxns-simple-training")
    except StudioError:
        return Preset()
