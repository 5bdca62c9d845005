"""Exports of trained networks for other software, and imports of what other tools write.

One module per format; this registry maps ``--format`` names to them:

    rtxns       rtxns_bin.py       RTX Neural Shading SDK binary network (+ NAME.encoding.json sidecar)
    rtxns-json  rtxns_json.py      RTXNS SlangPy samples' JSON (+ sidecar)
    slang       shader_source.py   self-contained Slang module with float3 evaluate(float2 uv)
    hlsl        shader_source.py   the same as HLSL
    npz         npz_json.py        numpy arrays per layer + encoding/network descriptions
    json        npz_json.py        documented JSON, plain or base64 arrays

Imports (imports.py) read RTXNS .bin and JSON; layouts.py packs float16 networks and converts between
matrix layouts. Every failure is a StudioError with a one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..atomic import atomic_write
from ..errors import StudioError


@dataclass(frozen=True)
class ExportFormat:
    name: str
    summary: str
    suffix: str
    write: Callable  # (weights, out: Path, options: dict) -> list[Path]
    options: tuple[str, ...] = ()


def _write_rtxns(weights, out: Path, options: dict) -> list[Path]:
    from .rtxns_bin import encode_rtxns, rtxns_network
    from .sidecar import make_sidecar, sidecar_path
    data = encode_rtxns(rtxns_network(weights, options.get("layout") or "row_major",
                                      bool(options.get("round_float16"))))
    return _write_with_sidecar(weights, out, data, make_sidecar, sidecar_path)


def _write_rtxns_json(weights, out: Path, options: dict) -> list[Path]:
    from .rtxns_bin import rtxns_layers
    from .rtxns_json import encode_rtxns_json
    from .sidecar import make_sidecar, sidecar_path
    data = encode_rtxns_json(rtxns_layers(weights, bool(options.get("round_float16"))))
    return _write_with_sidecar(weights, out, data, make_sidecar, sidecar_path)


def _write_with_sidecar(weights, out: Path, data: bytes, make_sidecar, sidecar_path) -> list[Path]:
    side = sidecar_path(out)
    atomic_write(out, data)
    atomic_write(side, make_sidecar(weights, data, out.name))
    return [out, side]


def weights_bin_path(shader_path: str | Path) -> Path:
    """Where a buffer-mode shader's weights go: NAME.weights.bin beside NAME."""
    path = Path(shader_path)
    return path.with_name(path.name + ".weights.bin")


def _write_shader(language: str):
    def write(weights, out: Path, options: dict) -> list[Path]:
        from .shader_source import generate, weights_buffer
        mode = options.get("shader_weights") or "constants"
        source = generate(weights, language, mode).encode()
        if mode != "buffer":
            atomic_write(out, source)
            return [out]
        atomic_write(weights_bin_path(out), weights_buffer(weights).tobytes())
        atomic_write(out, source)
        return [out, weights_bin_path(out)]
    return write


def _write_npz(weights, out: Path, options: dict) -> list[Path]:
    from .npz_json import npz_bytes
    atomic_write(out, npz_bytes(weights))
    return [out]


def _write_json(weights, out: Path, options: dict) -> list[Path]:
    from .npz_json import json_bytes
    atomic_write(out, json_bytes(weights, options.get("arrays") or "plain"))
    return [out]


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("rtxns", "RTX Neural Shading SDK binary network file, float16 (+ NAME.encoding.json sidecar)",
                 ".bin", _write_rtxns, ("layout", "round_float16")),
    ExportFormat("rtxns-json", "JSON of RTXNS's SlangPy samples (+ NAME.encoding.json sidecar)", ".json",
                 _write_rtxns_json, ("round_float16",)),
    ExportFormat("slang", "self-contained Slang module defining float3 evaluate(float2 uv)", ".slang",
                 _write_shader("slang"), ("shader_weights",)),
    ExportFormat("hlsl", "self-contained HLSL defining float3 evaluate(float2 uv)", ".hlsl", _write_shader("hlsl"),
                 ("shader_weights",)),
    ExportFormat("npz", "numpy arrays per layer with the encoding and network descriptions", ".npz", _write_npz),
    ExportFormat("json", "documented JSON with plain or base64 arrays", ".json", _write_json, ("arrays",)),
)}

OPTION_FLAGS = {"layout": "--layout", "round_float16": "--round-float16", "arrays": "--arrays",
                "shader_weights": "--shader-weights"}


def export_weights(weights, fmt: str, out: str | Path, **options) -> list[Path]:
    """Writes ``weights`` (a WeightsFile) as ``fmt`` to ``out``; returns the files written.
    Options: layout (rtxns: row_major or column_major), round_float16 (rtxns, rtxns-json), arrays (json),
    shader_weights (slang, hlsl: constants, or buffer to read them from nts_weights, written to NAME.weights.bin)."""
    if fmt not in FORMATS:
        raise StudioError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    for key, value in options.items():
        if key not in OPTION_FLAGS:
            raise StudioError(f"unknown export option {key!r}")
        if value not in (None, False) and key not in spec.options:
            raise StudioError(f"{OPTION_FLAGS[key]} does not apply to --format {fmt}")
    if options.get("layout"):
        from .layouts import PORTABLE_LAYOUTS, layout_name
        if layout_name(options["layout"]) not in PORTABLE_LAYOUTS:
            raise StudioError(f"files always carry a portable layout (row_major or column_major), not "
                              f"{layout_name(options['layout'])}: optimal layouts are device-specific and are made "
                              "on load, for the device at hand")
    out = Path(out)
    if not out.resolve().parent.is_dir():
        raise StudioError(f"cannot write {out}: its folder does not exist")
    return spec.write(weights, out, options)
