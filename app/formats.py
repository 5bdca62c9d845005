"""Every network file format, in one registry: a reader and/or a writer per format, and byte sniffing.

    format      reads  writes  module
    ntsw        yes    yes     weights_io.py           this app's own file, everything it needs to train on
    rtxns       yes    yes     export/rtxns_bin.py     RTX Neural Shading SDK binary network (+ sidecar)
    rtxns-json  yes    yes     export/rtxns_json.py    RTXNS SlangPy samples' JSON (+ sidecar)
    slang       -      yes     export/shader_source.py self-contained Slang module, float3 evaluate(float2 uv)
    hlsl        -      yes     export/shader_source.py the same as HLSL
    npz         -      yes     export/npz_json.py      numpy arrays per layer + descriptions
    json        -      yes     export/npz_json.py      documented JSON, plain or base64 arrays

``open_network`` is the one way to read a network file (the CLI's --weights/--init, the window's Load,
the tests); the format comes from the file's bytes, not its name. ``export_weights`` writes any format.
Every failure is a StudioError with a one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .atomic import atomic_write
from .errors import StudioError
from .export.imports import ImportOptions, looks_like_json, read_rtxns_bin, read_rtxns_json
from .export.rtxns_bin import is_rtxns
from .network_file import WeightsFile
from .weights_io import decode_weights, encode_weights, is_ntsw


@dataclass(frozen=True)
class NetworkFormat:
    name: str
    summary: str
    suffix: str
    write: Callable | None = None   # (weights, out: Path, options: dict) -> list[Path]
    options: tuple[str, ...] = ()   # export options it takes
    sniff: Callable | None = None   # (first bytes) -> bool; formats without one are not read
    read: Callable | None = None    # (data, name, ImportOptions, path) -> WeightsFile
    describes_itself: bool = True   # False: encoding and activations come from ImportOptions / a sidecar
    arrays: bool = True             # False: the format holds one network, so network arrays are refused


def _read_ntsw(data: bytes, name: str, options: ImportOptions, path: Path | None) -> WeightsFile:
    return decode_weights(data, name)


def _write_ntsw(weights, out: Path, options: dict) -> list[Path]:
    atomic_write(out, encode_weights(weights))
    return [out]


def _write_rtxns(weights, out: Path, options: dict) -> list[Path]:
    from .export.rtxns_bin import encode_rtxns, rtxns_network
    data = encode_rtxns(rtxns_network(weights, options.get("layout") or "row_major",
                                      bool(options.get("round_float16"))))
    return _write_with_sidecar(weights, out, data)


def _write_rtxns_json(weights, out: Path, options: dict) -> list[Path]:
    from .export.rtxns_bin import rtxns_layers
    from .export.rtxns_json import encode_rtxns_json
    return _write_with_sidecar(weights, out, encode_rtxns_json(rtxns_layers(weights, bool(options.get("round_float16")))))


def _write_with_sidecar(weights, out: Path, data: bytes) -> list[Path]:
    from .export.sidecar import make_sidecar, sidecar_path
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
        from .export.shader_source import generate, weights_buffer
        mode = options.get("shader_weights") or ("buffer" if weights.preset.network.is_array else "constants")
        source = generate(weights, language, mode).encode()
        if mode != "buffer":
            atomic_write(out, source)
            return [out]
        atomic_write(weights_bin_path(out), weights_buffer(weights).tobytes())
        atomic_write(out, source)
        return [out, weights_bin_path(out)]
    return write


def _write_npz(weights, out: Path, options: dict) -> list[Path]:
    from .export.npz_json import npz_bytes
    atomic_write(out, npz_bytes(weights))
    return [out]


def _write_json(weights, out: Path, options: dict) -> list[Path]:
    from .export.npz_json import json_bytes
    atomic_write(out, json_bytes(weights, options.get("arrays") or "plain"))
    return [out]


FORMATS: dict[str, NetworkFormat] = {f.name: f for f in (
    NetworkFormat("ntsw", "Neural Texture Studio weights file: network, training settings and float32 parameters",
                  ".ntsw", _write_ntsw, sniff=is_ntsw, read=_read_ntsw),
    NetworkFormat("rtxns", "RTX Neural Shading SDK binary network file, float16 (+ NAME.encoding.json sidecar)",
                  ".bin", _write_rtxns, ("layout", "round_float16"), sniff=is_rtxns, read=read_rtxns_bin,
                  describes_itself=False, arrays=False),
    NetworkFormat("rtxns-json", "JSON of RTXNS's SlangPy samples (+ NAME.encoding.json sidecar)", ".json",
                  _write_rtxns_json, ("round_float16",), sniff=looks_like_json, read=read_rtxns_json,
                  describes_itself=False, arrays=False),
    NetworkFormat("slang", "self-contained Slang module defining float3 evaluate(float2 uv)", ".slang",
                  _write_shader("slang"), ("shader_weights",)),
    NetworkFormat("hlsl", "self-contained HLSL defining float3 evaluate(float2 uv)", ".hlsl", _write_shader("hlsl"),
                  ("shader_weights",)),
    NetworkFormat("npz", "numpy arrays per layer with the encoding and network descriptions", ".npz", _write_npz),
    NetworkFormat("json", "documented JSON with plain or base64 arrays", ".json", _write_json, ("arrays",)),
)}
READABLE_SUFFIXES = tuple(dict.fromkeys(f.suffix for f in FORMATS.values() if f.read))

OPTION_FLAGS = {"layout": "--layout", "round_float16": "--round-float16", "arrays": "--arrays",
                "shader_weights": "--shader-weights"}


def read_network(data: bytes, name: str, options: ImportOptions | None = None,
                 path: Path | None = None) -> WeightsFile:
    """A network from a file's bytes, in whichever readable format they are (``path`` locates sidecars)."""
    options = options or ImportOptions()
    for fmt in FORMATS.values():
        if fmt.sniff is not None and fmt.sniff(data):
            if options.given and fmt.describes_itself:
                flags = options.given
                raise StudioError(f"{', '.join(flags)} only appl{'ies' if len(flags) == 1 else 'y'} to RTXNS files; "
                                  f"{name} is not one (Neural Texture Studio weights files record their own "
                                  "encoding and activations)")
            return fmt.read(data, name, options, path)
    raise StudioError(f"{name} is neither a Neural Texture Studio weights file nor an RTXNS network (.bin or JSON)")


def open_network(path: str | Path, options: ImportOptions | None = None) -> WeightsFile:
    """Any network file the app reads: its own .ntsw, RTXNS .bin, RTXNS JSON."""
    path = Path(path)
    try:
        if not path.is_file():
            raise StudioError(f"weights file not found: {path}")
        data = path.read_bytes()
    except OSError as err:
        raise StudioError(f"cannot read {path}: {err.strerror}") from None
    return read_network(data, path.name, options, path)


def export_weights(weights: WeightsFile, fmt: str, out: str | Path, **options) -> list[Path]:
    """Writes ``weights`` as ``fmt`` to ``out``; returns the files written.
    Options: layout (rtxns: row_major or column_major), round_float16 (rtxns, rtxns-json), arrays (json),
    shader_weights (slang, hlsl: constants, or buffer to read them from nts_weights, written to NAME.weights.bin)."""
    if fmt not in FORMATS:
        raise StudioError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    net = weights.preset.network
    if net.is_array and not spec.arrays:
        writers = ", ".join(f.name for f in FORMATS.values() if f.write and f.arrays)
        raise StudioError(f"{fmt} holds one network and this is an array of {net.tiles[0]}x{net.tiles[1]} networks "
                          f"(otype array): export it as {writers}")
    for key, value in options.items():
        if key not in OPTION_FLAGS:
            raise StudioError(f"unknown export option {key!r}")
        if value not in (None, False) and key not in spec.options:
            raise StudioError(f"{OPTION_FLAGS[key]} does not apply to --format {fmt}")
    if options.get("layout"):
        from .export.layouts import PORTABLE_LAYOUTS, layout_name
        if layout_name(options["layout"]) not in PORTABLE_LAYOUTS:
            raise StudioError(f"files always carry a portable layout (row_major or column_major), not "
                              f"{layout_name(options['layout'])}: optimal layouts are device-specific and are made "
                              "on load, for the device at hand")
    out = Path(out)
    if not out.resolve().parent.is_dir():
        raise StudioError(f"cannot write {out}: its folder does not exist")
    return spec.write(weights, out, options)
