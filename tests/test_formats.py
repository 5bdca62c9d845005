"""The network-format registry (app/formats.py): every readable format is recognised by its bytes, not
its name, and reads back what was written; .ntsw is one format among them."""
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from app.errors import StudioError
from app.export.imports import ImportOptions
from app.formats import FORMATS, READABLE_SUFFIXES, export_weights, open_network, read_network
from app.network import Layout
from app.network_file import WeightsFile
from app.preset import load_preset
from conftest import ROOT


@pytest.fixture(scope="module")
def net():
    preset = load_preset("rtxns-simple-training")
    preset = replace(preset, network=replace(preset.network, n_neurons=16, n_hidden_layers=1))
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    params = np.random.default_rng(3).normal(0, 0.3, layout.parameter_count).astype(np.float16).astype(np.float32)
    return WeightsFile(preset, params, (16, 8), "flip", {"steps": 1})


def test_registry_lists_readers_and_writers():
    assert list(FORMATS) == ["ntsw", "rtxns", "rtxns-json", "slang", "hlsl", "npz", "json"]
    assert all(f.write for f in FORMATS.values())
    assert [f.name for f in FORMATS.values() if f.read] == ["ntsw", "rtxns", "rtxns-json"]
    assert READABLE_SUFFIXES == (".ntsw", ".bin", ".json")


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS.values() if f.read])
def test_each_readable_format_round_trips_under_any_name(tmp_path, net, fmt):
    out = tmp_path / "network.dat"  # the bytes decide, not the suffix
    export_weights(net, fmt, out)
    back = open_network(out)
    np.testing.assert_array_equal(back.parameters, net.parameters)
    assert (back.preset.encoding, back.preset.network) == (net.preset.encoding, net.preset.network)
    assert (back.texture_size, back.transform) == (net.texture_size, net.transform)  # ntsw itself, or its sidecar


def test_refusals(tmp_path, net):
    with pytest.raises(StudioError, match="x.png is neither a Neural Texture Studio weights file nor an RTXNS"):
        read_network(b"\x89PNG....", "x.png")
    with pytest.raises(StudioError, match="weights file not found"):
        open_network(tmp_path / "missing.ntsw")
    export_weights(net, "ntsw", tmp_path / "w.ntsw")
    with pytest.raises(StudioError, match="--encoding only applies to RTXNS files; w.ntsw is not one"):
        open_network(tmp_path / "w.ntsw", ImportOptions(encoding="identity"))


def test_cli_converts_an_rtxns_file_to_ntsw(tmp_path, net):
    export_weights(net, "rtxns", tmp_path / "n.bin")
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "export", "--weights", str(tmp_path / "n.bin"),
                        "--format", "ntsw", "--out", str(tmp_path / "n.ntsw")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    back = open_network(tmp_path / "n.ntsw")
    assert (tmp_path / "n.ntsw").read_bytes()[:8] == b"NTSWGHT\0"
    np.testing.assert_array_equal(back.parameters, net.parameters)
