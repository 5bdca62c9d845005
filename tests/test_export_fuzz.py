"""Property-based fuzzing of every network loader: thousands of mutated files (truncated, extended, bit-
flipped, header fields overwritten, JSON restructured, checksums recomputed so the deeper checks run) and
only the loader's own error type, StudioError with a one-line message, may come out."""
import hashlib
import json
import struct
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import StudioError
from app.formats import export_weights
from app.formats import read_network
from app.export.rtxns_bin import encode_rtxns, rtxns_network
from app.export.rtxns_json import encode_rtxns_json
from app.export.rtxns_bin import rtxns_layers
from app.export.sidecar import make_sidecar, sidecar_path
from app.network import Layout
from app.preset import load_preset
from app.network_file import WeightsFile
from app.weights_io import MAGIC, decode_weights, encode_weights
from fuzzing import byte_mutations, fuzz_settings, json_mutations, mutate_tree

FUZZ = fuzz_settings(1500)


def small_network() -> WeightsFile:
    preset = load_preset("rtxns-simple-training")
    preset = replace(preset, network=replace(preset.network, n_neurons=16, n_hidden_layers=1))
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    params = np.random.default_rng(7).normal(0, 0.3, layout.parameter_count).astype(np.float16).astype(np.float32)
    return WeightsFile(preset, params, (16, 16), "none", {"steps": 1})


NET = small_network()
OWN = encode_weights(NET)
BIN = encode_rtxns(rtxns_network(NET))
JSON = encode_rtxns_json(rtxns_layers(NET))
SIDECAR = make_sidecar(NET, BIN, "f.bin")

# Header fields of the RTXNS file (offset, size): version, architecture, layer records, layout, data size.
BIN_FIELDS = [(0, 4)] + [(4 + 4 * i, 4) for i in range(6)] + \
             [(32 + 32 * l + off, size) for l in range(8) for off, size in ((0, 4), (4, 4), (8, 8), (16, 8), (24, 4),
                                                                              (28, 4))] + [(288, 4), (296, 8)]
OWN_FIELDS = [(0, 8), (8, 4), (12, 4)]


def _own_file(header: bytes, params: bytes) -> bytes:
    body = MAGIC + struct.pack("<II", 1, len(header)) + header
    body += b"\0" * (-len(body) % 16) + params
    return body + hashlib.sha256(body).digest()


@st.composite
def own_mutations(draw) -> bytes:
    """Byte-level damage, or a rewritten header with a valid checksum so the checks behind it run."""
    head_len = struct.unpack_from("<I", OWN, 12)[0]
    header = json.loads(OWN[16:16 + head_len])
    start = 16 + head_len + (-(16 + head_len) % 16)
    params = OWN[start:-32]
    kind = draw(st.sampled_from(["bytes", "bytes-resigned", "header"]))
    if kind == "header":
        return _own_file(json.dumps(mutate_tree(draw, header)).encode(), params)
    data = draw(byte_mutations(OWN, OWN_FIELDS))
    if kind == "bytes-resigned" and len(data) > 32:
        data = data[:-32] + hashlib.sha256(data[:-32]).digest()
    return data


def only_studio_errors(load, data):
    try:
        result = load(data)
    except StudioError as err:
        message = str(err)
        assert message and "\n" not in message and len(message) < 1200, message
        return
    assert isinstance(result, WeightsFile)
    assert np.all(np.isfinite(result.parameters))


def test_seeds_load():
    for load, data in ((decode_weights, OWN), (lambda d: read_network(d, "f.bin"), BIN),
                       (lambda d: read_network(d, "f.json"), JSON)):
        assert isinstance(load(data), WeightsFile)


@FUZZ
@given(own_mutations())
def test_own_format_loader_fuzz(data):
    only_studio_errors(lambda d: decode_weights(d, "f.ntsw"), data)


@FUZZ
@given(byte_mutations(BIN, BIN_FIELDS))
def test_rtxns_bin_loader_fuzz(data):
    only_studio_errors(lambda d: read_network(d, "f.bin"), data)


@fuzz_settings(1000)
@given(json_mutations(JSON))
def test_rtxns_json_loader_fuzz(data):
    only_studio_errors(lambda d: read_network(d, "f.json"), data)


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sidecar")
    (folder / "f.bin").write_bytes(BIN)
    return folder


@fuzz_settings(500)
@given(json_mutations(SIDECAR))
def test_rtxns_sidecar_fuzz(bin_dir, data):
    """Sidecars keep their checksum (so they are read), everything else is fair game."""
    sidecar_path(bin_dir / "f.bin").write_bytes(data)
    only_studio_errors(lambda d: read_network(BIN, "f.bin", path=bin_dir / "f.bin"), data)


def test_export_then_every_truncation_is_refused(tmp_path):
    """Each proper prefix of each file is refused (exhaustive, not sampled)."""
    export_weights(NET, "rtxns", tmp_path / "n.bin")
    for load, data in ((lambda d: decode_weights(d, "f.ntsw"), OWN), (lambda d: read_network(d, "f.bin"), BIN),
                       (lambda d: read_network(d, "f.json"), JSON)):
        step = max(1, len(data) // 400)
        for n in range(0, len(data), step):
            with pytest.raises(StudioError):
                load(data[:n])


@pytest.mark.parametrize("text", [b"[" * 100000, b"{\"a\": " + b"1" * 5000 + b"}", b"{\"a\": 1e999}",
                                  "{\"\u00e9\": NaN}".encode(), b"\xff\xfe{}"])
def test_pathological_json_is_refused(bin_dir, text):
    """What random mutation rarely builds: nesting past Python's recursion limit, 5000-digit integers,
    infinities, NaN, a UTF-16 byte-order mark; in the own header (checksum valid), RTXNS JSON and sidecars."""
    only_studio_errors(lambda d: decode_weights(d, "f.ntsw"), _own_file(text, b""))
    only_studio_errors(lambda d: read_network(d, "f.json"), b"{\"layers\": " + text + b"}")
    only_studio_errors(lambda d: read_network(d, "f.json"), text)
    sidecar_path(bin_dir / "f.bin").write_bytes(text)
    only_studio_errors(lambda d: read_network(d, "f.bin", path=bin_dir / "f.bin"), BIN)
