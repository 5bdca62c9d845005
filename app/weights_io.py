"""This app's network file (.ntsw): magic, version, JSON header, packed float32 parameters, SHA-256 checksum.

Layout (little-endian):
    0   8 bytes  magic b"NTSWGHT\\0"
    8   u32      format version (FORMAT_VERSION)
    12  u32      header length H in bytes
    16  H bytes  UTF-8 JSON header (architecture, encoding, precision, layout, per-layer offsets, ...)
    ..  padding  zeros up to a multiple of 16
    ..  4*N      float32 parameters, compact layout (per layer: weights row-major outputs x inputs, then biases)
    end 32 bytes SHA-256 of everything before it
Saving is atomic (temp file + rename); loading checks every field and raises StudioError. One format of
the registry in app/formats.py, which opens any network file.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import StudioError
from .jsonfile import parse_json, shown
from .network import Layout
from .network_file import WeightsFile, parameter_count
from .preset import Preset
from .texture import TRANSFORMS

MAGIC = b"NTSWGHT\0"
FORMAT_VERSION = 1
PARAMETER_LAYOUT = "compact-row-major"
MAX_HEADER = 1 << 20


def is_ntsw(data: bytes) -> bool:
    return data[:len(MAGIC)] == MAGIC


def encode_weights(w: WeightsFile) -> bytes:
    layout = w.layout
    total = parameter_count(w.preset)
    params = np.ascontiguousarray(w.parameters, dtype="<f4")
    if params.shape != (total,):
        raise StudioError(f"network has {total} parameters but {params.size} were given")
    header = {
        "format": "neural-texture-studio-weights",
        "version": FORMAT_VERSION,
        "preset": w.preset.to_dict(),
        "preset_name": w.preset.name,
        "precision": w.preset.network.precision,
        "parameter_layout": PARAMETER_LAYOUT,
        "parameter_dtype": "float32",
        "parameter_count": total,
        "layers": layout.compact_offsets(),
        # a trainable encoding's parameters follow the MLP's (hash grid: entry-major, then feature)
        "encoding_parameters": {"offset": layout.parameter_count, "count": w.preset.encoding.parameter_count},
        "texture_size": list(w.texture_size),
        "transform": w.transform,
        "stats": w.stats,
    }
    head = json.dumps(header, indent=1).encode()
    body = MAGIC + struct.pack("<II", FORMAT_VERSION, len(head)) + head
    body += b"\0" * (-len(body) % 16) + params.tobytes()
    return body + hashlib.sha256(body).digest()


def save_weights(path: str | Path, w: WeightsFile) -> None:
    atomic_write(path, encode_weights(w))


def decode_weights(data: bytes, name: str = "weights") -> WeightsFile:
    if len(data) < 16 or data[:8] != MAGIC:
        raise StudioError(f"{name} is not a Neural Texture Studio weights file (wrong magic number)")
    version, head_len = struct.unpack_from("<II", data, 8)
    if version > FORMAT_VERSION:
        raise StudioError(f"{name} was written by a newer version (format v{version}); this build reads up to "
                          f"v{FORMAT_VERSION}: update Neural Texture Studio")
    if version < 1:
        raise StudioError(f"{name} has an invalid format version {version}")
    if head_len > MAX_HEADER or 16 + head_len + 32 > len(data):
        raise StudioError(f"{name} is truncated or damaged (header of {head_len} bytes does not fit in "
                          f"{len(data)} bytes)")
    body, digest = data[:-32], data[-32:]
    try:
        header = parse_json(data[16:16 + head_len], name)
    except StudioError:
        header = None
    if header is None or not isinstance(header, dict):
        if hashlib.sha256(body).digest() != digest:
            raise StudioError(f"{name} is corrupted (checksum mismatch)")
        raise StudioError(f"{name} has an unreadable header")
    start = 16 + head_len + (-(16 + head_len) % 16)
    count = header.get("parameter_count")
    if not isinstance(count, int) or count < 0:
        raise StudioError(f"{name} has an invalid parameter count")
    expected = start + 4 * count + 32
    if len(data) < expected:
        raise StudioError(f"{name} is truncated: expected {expected} bytes, found {len(data)}")
    if len(data) > expected:
        raise StudioError(f"{name} has {len(data) - expected} unexpected trailing bytes")
    if hashlib.sha256(body).digest() != digest:
        raise StudioError(f"{name} is corrupted (checksum mismatch)")
    if header.get("parameter_layout") != PARAMETER_LAYOUT or header.get("parameter_dtype") != "float32":
        raise StudioError(f"{name} uses an unknown parameter layout {header.get('parameter_layout')!r}")
    try:
        preset = Preset.from_dict(header["preset"], str(header.get("preset_name", "loaded")))
    except (KeyError, StudioError) as err:
        raise StudioError(f"{name} describes an invalid network: {err}") from None
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    if parameter_count(preset) != count or header.get("layers") != layout.compact_offsets():
        raise StudioError(f"{name}: the parameter count or layer offsets do not match its architecture")
    params = np.frombuffer(data, dtype="<f4", count=count, offset=start).astype(np.float32)
    if not np.all(np.isfinite(params)):
        raise StudioError(f"{name} contains NaN or infinite parameters")
    size = header.get("texture_size", [0, 0])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        raise StudioError(f"{name} has an invalid texture size")
    transform = header.get("transform", "none")
    if not isinstance(transform, str) or transform not in TRANSFORMS:
        raise StudioError(f"{name} has an unknown transform {shown(transform)}; known: {', '.join(TRANSFORMS)}")
    return WeightsFile(preset, params, (size[0], size[1]), transform,
                       header.get("stats", {}) if isinstance(header.get("stats"), dict) else {})
