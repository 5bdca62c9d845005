"""Exports of networks on trainable table encodings (hash grid, permutohedral lattice): npz/json hold the
trainer's table and what evaluating it needs (checked by a numpy forward pass written from the files
alone), Slang and HLSL shaders compute what infer computes, RTXNS formats and over-large constants-mode
tables are refused with their reason."""
import base64
import json
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

import reference as ref
from app.encodings import HASH_PRIMES, encoding_from_config
from app.errors import StudioError
from app.export.common import DESCRIBED_KEYS
from app.formats import export_weights
from app.network_file import WeightsFile
from app.preset import load_preset
from app.trainer import Trainer
from app.weights_io import save_weights
from conftest import ROOT
from test_export import W, H, forward, half, pixel_uv, run_hlsl, run_slang, same_float16_network

# Small on purpose (compile time): the hash grid's levels 0 and 1 are dense, level 2 hashed; the lattice's
# three levels are hashed. One float16 network without biases (as tiny-cuda-nn's), one float32 with.
TABLES = {
    "hash_grid": ({"otype": "hash_grid", "n_levels": 3, "n_features_per_level": 2, "log2_hashmap_size": 6,
                   "base_resolution": 4, "per_level_scale": 2.0}, "float16", False, ref.hash_grid_corners),
    "permuto": ({"otype": "permuto", "n_levels": 3, "n_features_per_level": 2, "log2_hashmap_size": 6,
                 "base_resolution": 3, "per_level_scale": 2.0}, "float32", True, ref.permuto_corners),
}


@pytest.fixture(scope="module", params=list(TABLES))
def table_net(request, device):
    """(WeightsFile, the Trainer holding it, infer's image) with random weights and a table with structure
    (a fresh table is within 1e-4 of zero, which would hide a wrong lookup)."""
    config, precision, bias, _ = TABLES[request.param]
    preset = replace(load_preset("rtxns-simple-training"), encoding=encoding_from_config(dict(config)))
    preset = replace(preset, network=replace(preset.network, n_neurons=16, n_hidden_layers=1, activation="relu",
                                             output_activation="none", precision=precision, bias=bias))
    trainer = Trainer(device, None, preset)
    rng = np.random.default_rng(7)
    params = rng.normal(0, 0.4, trainer.parameter_count).astype(np.float32)
    params[trainer.layout.parameter_count:] = rng.uniform(-1, 1, preset.encoding.parameter_count)
    trainer.set_parameters(params)
    weights = WeightsFile(preset, params, (W, H))
    return weights, trainer, trainer.prediction((W, H)).reshape(-1, 3)


def trainers_table(trainer) -> np.ndarray:
    """The table the trainer's forward pass reads (float16 networks: its float16 copy), entries x features."""
    raw = trainer.encoding_state.table.to_numpy()
    values = raw.view(np.float16 if trainer.network.half else np.float32).reshape(-1)[:trainer.encoding.parameter_count]
    return values.astype(np.float32).reshape(-1, trainer.encoding.n_features_per_level)


def numpy_forward(otype: str, levels: list[dict], table: np.ndarray, layers, network: dict, uv) -> np.ndarray:
    """The network's image from its levels, table and layers (tests/reference.py's lookups)."""
    encoding = SimpleNamespace(n_features_per_level=table.shape[1], levels=lambda: levels)
    x = ref.table_encode(uv, table, encoding, TABLES[otype][3])
    store = half if network["precision"] == "float16" else None
    return forward(layers, x, network["activation"], network["output_activation"], storage=store)


def close_to_infer(got, image, precision):
    if precision == "float16":
        np.testing.assert_allclose(got, image, atol=1e-3, rtol=0)
    else:
        np.testing.assert_allclose(got, image, atol=1e-5, rtol=1e-5)


def test_npz_and_json_hold_the_trainers_table_and_how_to_read_it(table_net, tmp_path):
    weights, trainer, image = table_net
    encoding, precision = weights.preset.encoding, weights.preset.network.precision
    export_weights(weights, "npz", tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz") as z:
        table = z["encoding_table"]
        description = json.loads(str(z["encoding"]))
        network = json.loads(str(z["network"]))
        layers = [(z[f"layer_{l}_weights"], z[f"layer_{l}_biases"] if network["bias"] else None)
                  for l in range(network["layers"])]
    np.testing.assert_array_equal(table, trainers_table(trainer))
    assert table.dtype == np.float32 and table.shape == (description["table"]["entries"], 2)
    # the description: config, every declared key, the trainer's levels and hash
    assert {k: description[k] for k in encoding.to_config()} == encoding.to_config()
    assert set(description) - set(encoding.to_config()) == set(DESCRIBED_KEYS)
    assert description["levels"] == json.loads(json.dumps(encoding.levels()))
    assert all(set(level) == set(description["level_fields"]) for level in description["levels"])
    assert description["hash_primes"] == list(HASH_PRIMES) == [1, int(ref.HASH_PRIME)]
    assert description["table"]["array"] == "encoding_table"
    assert ("float16" in description["table"]["values"]) == (precision == "float16")
    # infer's image from the file alone
    got = numpy_forward(description["otype"], description["levels"], table, layers, network, pixel_uv())
    close_to_infer(got, image, precision)
    # json, plain and base64: the same table and description
    for mode in ("plain", "base64"):
        export_weights(weights, "json", tmp_path / f"{mode}.json", arrays=mode)
        doc = json.loads((tmp_path / f"{mode}.json").read_text())
        values = doc["encoding_table"]
        flat = np.frombuffer(base64.b64decode(values), "<f4") if mode == "base64" else np.array(values, np.float32)
        np.testing.assert_array_equal(flat.reshape(table.shape), table)
        assert doc["encoding"] == description


def test_shaders_evaluate_the_encoding_as_training_does(device, table_net, tmp_path):
    """Slang in both weight modes and HLSL (one mode per encoding, to keep compiles few) against infer; the
    encoding's code in the file is the trainer's own."""
    import slangpy as spy
    weights, trainer, image = table_net
    encoding, precision = weights.preset.encoding, weights.preset.network.precision
    uv = pixel_uv()
    out = tmp_path / "c.slang"
    assert export_weights(weights, "slang", out) == [out]
    text = out.read_text()
    assert "#include" not in text and "float4 nts_table4(uint q)" in text
    trainer_code = (ROOT / "shaders" / encoding.slang_file).read_text()
    corners = re.search(r"TableCorners level_corners\(.*?\n}\n", trainer_code, re.S).group(0)
    assert corners in text
    constants = run_slang(device, out, uv)
    close_to_infer(constants, image, precision)

    source, values_file = export_weights(weights, "slang", tmp_path / "b.slang", shader_weights="buffer")
    values = np.frombuffer(values_file.read_bytes(), "<f4").copy()
    mlp = trainer.layout.parameter_count
    np.testing.assert_array_equal(values[mlp:], trainers_table(trainer).reshape(-1))  # MLP first, then the table
    assert f"static const uint NTS_T = {mlp}u;" in source.read_text()
    buf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                               data=values)
    module = spy.Module.load_from_file(device, str(source))
    buffered = module.evaluate.set(nts_weights=buf)(uv.astype(np.float32), _result="numpy")
    close_to_infer(buffered, image, precision)
    if precision == "float16":
        # the float16 network of the numpy reference, computed from the trainer's table
        layers = trainer.layout.layers_of(half(weights.parameters))
        network = {"precision": precision, "activation": "relu", "output_activation": "none"}
        mine = numpy_forward(encoding.otype, encoding.levels(), trainers_table(trainer), layers, network, uv)
        same_float16_network(buffered, mine)

    if encoding.otype == "hash_grid":
        hlsl, hlsl_values = export_weights(weights, "hlsl", tmp_path / "b.hlsl", shader_weights="buffer")
        vbuf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                                    data=np.frombuffer(hlsl_values.read_bytes(), "<f4").copy())
        got = run_hlsl(device, hlsl, {"nts_weights": vbuf})
    else:
        hlsl = export_weights(weights, "hlsl", tmp_path / "c.hlsl")[0]
        got = run_hlsl(device, hlsl)
    text = hlsl.read_text()
    assert "[ForceUnroll]" not in text and not re.search(r"\bhalf\b", text)
    close_to_infer(got.reshape(-1, 3), image, precision)


def test_rtxns_formats_refuse_trainable_encodings(table_net, tmp_path):
    weights = table_net[0]
    for fmt in ("rtxns", "rtxns-json"):
        with pytest.raises(StudioError, match=r"its encoding (hash_grid|permuto) has trainable parameters"):
            export_weights(weights, fmt, tmp_path / f"t.{fmt}", round_float16=True)
    assert not list(tmp_path.iterdir())


def test_constants_mode_refuses_large_tables_in_one_line(tmp_path, capsys):
    from app.cli import main
    from app.export.shader_source import CONSTANT_TABLE_LIMIT
    from app.network_file import parameter_count
    preset = load_preset("tcnn-hash")
    own = tmp_path / "h.ntsw"
    save_weights(own, WeightsFile(preset, np.zeros(parameter_count(preset), np.float32), (64, 64)))
    assert preset.encoding.parameter_count > CONSTANT_TABLE_LIMIT
    out = tmp_path / "h.slang"
    assert main(["export", "--weights", str(own), "--format", "slang", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the hash_grid table has ")
    assert "pass --shader-weights buffer" in err and not out.exists()


def test_readme_describes_every_key_of_the_table_exports():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**`npz`**"):readme.index("### Imports")]
    keys = [*DESCRIBED_KEYS, "encoding_table"]
    for otype in ("hash_grid", "permuto"):
        keys += list(encoding_from_config({"otype": otype}).level_fields)
    missing = [key for key in keys if f"`{key}`" not in section]
    assert not missing, missing
    from app.export.shader_source import CONSTANT_TABLE_LIMIT
    assert f"Constants mode holds at most {CONSTANT_TABLE_LIMIT:,} table values" in readme


def test_window_exports_large_tables_in_buffer_mode(tmp_path, monkeypatch):
    """The window has no weight-mode choice: a table too large for constants goes to the buffer file."""
    from app.network_file import parameter_count
    from app.ui import actions
    preset = load_preset("drjit-permuto")
    weights = WeightsFile(preset, np.zeros(parameter_count(preset), np.float32), (64, 64))
    monkeypatch.setattr(actions, "_weights_file", lambda state: weights)
    messages = []
    state = SimpleNamespace(device_tasks=[], report=lambda text, error=False: messages.append(text))
    actions.export_weights_as(state, "hlsl", tmp_path / "p.hlsl")
    [(_, task)] = state.device_tasks
    task()
    assert (tmp_path / "p.hlsl.weights.bin").stat().st_size == 4 * parameter_count(preset)
    assert "static const uint NTS_T = " in (tmp_path / "p.hlsl").read_text()
    assert messages == ["exported hlsl: p.hlsl, p.hlsl.weights.bin (the encoding's table is too large for "
                        "constants: weights in the .weights.bin buffer)"]


def test_dense_levels_are_decided_once_without_overflow():
    """Whether a level is indexed densely is decided in Python and emitted (NTS_HG_DENSE): the shaders'
    former r^2 <= size in uint32 called a level of r = 65536 (r^2 = 2^32 wraps to 0) dense."""
    grid = encoding_from_config({"otype": "hash_grid", "n_levels": 4, "log2_hashmap_size": 16,
                                 "base_resolution": 256, "per_level_scale": 4.0})
    levels = grid.levels()
    assert [level["resolution"] for level in levels] == [256, 1024, 4096, 16384]
    assert [level["dense"] for level in levels] == [True, False, False, False]
    assert grid.defines()["NTS_HG_DENSE"] == "1, 0, 0, 0"
    top = encoding_from_config({"otype": "hash_grid", "n_levels": 3, "base_resolution": 4096, "per_level_scale": 4.0})
    assert [level["resolution"] for level in top.levels()] == [4096, 16384, 65536]
    assert top.defines()["NTS_HG_DENSE"] == "0, 0, 0"
