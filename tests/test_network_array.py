"""Network arrays (otype "array", tinn's idea) against numpy: forward, gradients with and without
blending, the optimizer over several tiles at once, inference, save/load and exports. The networks are
the two bundled presets' (test_presets trains them too), so the kernels compile once per session."""
import json
from dataclasses import replace

import numpy as np
import pytest

import reference as ref
from app.errors import StudioError
from app.network import Layout, NetworkConfig
from app.optimizers import OptimizerConfig
from app.preset import Preset, load_preset
from app.trainer import Trainer

PRESETS = {"plain": "tinn-array", "blend": "tinn-array-blend"}


def make_trainer(device, image, kind, batch, seed=5, **network):
    preset = load_preset(PRESETS[kind])
    if network:
        preset = replace(preset, network=replace(preset.network, **network))
    return Trainer(device, image, preset.with_training(batch_size=batch, seed=seed))


def reference_step(trainer, image):
    """(blended outputs, per-corner parts, compact gradient) of the batch the trainer draws next."""
    net, lay = trainer.network, trainer.layout
    tile_layers = lay.tile_layers_of(trainer.parameters().astype(np.float64))
    stride = trainer.mlp._stride
    uv = ref.array_training_uv(net.tiles, net.blend, trainer.seed, trainer.step + 1, stride)[:trainer.batch]
    corners = ref.array_corners(uv, net.tiles, net.blend, net.local_uv)
    encode = lambda x: ref.encode_like(x, trainer.encoding)
    y, parts = ref.array_forward(tile_layers, corners, encode, net.activation, net.output_activation,
                                 net.leaky_relu_alpha)
    t = ref.fetch(image, ref.transform_uv(uv, trainer.transform))
    _, dl = ref.loss_and_grad(trainer.loss.otype, y, t)
    # each network learns the mean loss over its own samples: the batch's mean times the tile count
    grads = ref.array_gradients(tile_layers, parts, dl * lay.tiles / (trainer.batch * 3), net.activation,
                                net.output_activation, net.leaky_relu_alpha)
    flat = np.concatenate([np.concatenate([dw.reshape(-1)] + ([] if db is None else [db])) for tile in grads
                           for dw, db in tile])
    return y, parts, flat


@pytest.mark.parametrize("kind,batch", [("plain", 17000), ("blend", 1000)])
def test_forward_and_gradients_match_numpy(device, small_image, kind, batch):
    """plain: 67 workgroups over 64 tiles (three tiles get two); blend: four quarter-tile regions."""
    trainer = make_trainer(device, small_image, kind, batch)
    for _ in range(2):  # two steps: the regions rotate
        gpu = trainer.gradients()
        y_ref, parts, g_ref = reference_step(trainer, small_image)
        records = trainer.mlp.records_array()
        stride = trainer.mlp._stride
        for c, (_, _, x, yc) in enumerate(parts):  # every corner's network input and output
            rows = slice(c * stride, c * stride + trainer.batch)
            np.testing.assert_allclose(records[trainer.layout.y_slot, rows, :3], yc, rtol=1e-4, atol=1e-5)
        scale = np.abs(g_ref).max()
        np.testing.assert_allclose(gpu, g_ref, rtol=1e-3, atol=1e-4 * scale)
        trained = np.abs(gpu.reshape(trainer.layout.tiles, -1)).sum(1) > 0
        expected = np.abs(g_ref.reshape(trainer.layout.tiles, -1)).sum(1) > 0
        np.testing.assert_array_equal(trained, expected)  # only the sampled tiles' networks learn
        assert trained.sum() >= (4 if kind == "blend" else 64)
        trainer.train(1)


def test_optimizer_updates_every_tile_like_numpy(device, small_image):
    """Several steps of SGD with momentum and of Adam: tiles sampled in one step keep moving by their
    own optimizer state in the next ones. (Adam's beta2 is 0.99 as in test_mlp: with 0.999, float32's
    1 - pow(beta2, t) on lavapipe is off by ~1e-4 relative, 6e-7 per step here.)"""
    trainer = make_trainer(device, small_image, "plain", 1000)
    for opt in (OptimizerConfig("sgd", 0.5, momentum=0.9, l2_reg=1e-3), OptimizerConfig("adam", 1e-2, 0.9, 0.99, 1e-8)):
        ref.assert_steps_match(trainer, opt, lambda w, g, state, step: ref.optimizer_step(opt, w, g, state, step))


@pytest.mark.parametrize("kind", ["plain", "blend"])
def test_inference_matches_numpy(device, small_image, kind):
    trainer = make_trainer(device, small_image, kind, 4096)
    trainer.train(3)
    net = trainer.network
    w, h = 40, 24  # no pixel centre on a tile border
    ys, xs = np.mgrid[0:h, 0:w]
    uv = np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1)
    corners = ref.array_corners(uv, net.tiles, net.blend, net.local_uv)
    y, _ = ref.array_forward(trainer.layout.tile_layers_of(trainer.parameters().astype(np.float64)), corners,
                             lambda x: ref.encode_like(x, trainer.encoding), net.activation,
                             net.output_activation, net.leaky_relu_alpha)
    image = trainer.prediction((w, h))
    np.testing.assert_allclose(image.reshape(-1, 3), y, rtol=1e-4, atol=1e-5)
    # a render of part of the image (the window's and the tiled evaluation's) gives the same pixels
    views = trainer.render((w, h), tile=(7, 5, 19, 11))
    np.testing.assert_allclose(views["prediction"].to_numpy()[:11, :19, :3], image[5:16, 7:26], rtol=1e-6, atol=1e-7)


def test_global_uv(device, small_image):
    """local_uv off: every network sees the texture's uv."""
    trainer = make_trainer(device, small_image, "plain", 1000, local_uv=False)
    gpu = trainer.gradients()
    _, _, g_ref = reference_step(trainer, small_image)
    np.testing.assert_allclose(gpu, g_ref, rtol=1e-3, atol=1e-4 * np.abs(g_ref).max())


def test_config_and_layout():
    net = NetworkConfig.from_config({"otype": "array", "tiles": [3, 2], "n_neurons": 4, "n_hidden_layers": 1})
    assert (net.tile_count, net.corners, net.tiles) == (6, 1, (3, 2))
    assert NetworkConfig.from_config(net.to_config()) == net
    lay = Layout.of(8, net)
    assert lay.parameter_count == 6 * (4 * 8 + 4 + 3 * 4 + 3)
    params = np.arange(lay.parameter_count, dtype=np.float32)
    np.testing.assert_array_equal(lay.unpack(lay.pack(params)), params)
    w0, b0 = lay.tile_layers_of(params)[0]
    assert w0.shape == (6, 4, 8) and b0.shape == (6, 4)
    np.testing.assert_array_equal(w0[1].reshape(-1), params[lay.tile_parameter_count:][:32])
    for bad, message in [({"otype": "array", "tiles": [65, 1]}, "two integers from 1 to 64"),
                         ({"otype": "array", "tiles": [2]}, "two integers"),
                         ({"otype": "MLP", "tiles": [2, 2]}, "unknown key(s) tiles"),
                         ({"otype": "array", "blend": 1}, "true or false"),
                         ({"otype": "array", "n_neurons": 3}, "out of range")]:
        with pytest.raises(StudioError, match=message.replace("(", r"\(").replace(")", r"\)")):
            NetworkConfig.from_config(bad)
    with pytest.raises(StudioError, match="need an encoding without trainable parameters"):
        Preset.from_dict({"encoding": {"otype": "hash_grid"}, "network": {"otype": "array", "tiles": [2, 2]}})


# ---------- files and exports ----------

@pytest.fixture(scope="module")
def trained(device, small_image):
    """A few steps of both presets' networks, on 3 x 2 tiles (borders inside pixels of a 40 x 24 render)."""
    from app.network_file import WeightsFile
    out = {}
    for kind in PRESETS:
        trainer = make_trainer(device, small_image, kind, 2048, tiles=(3, 2))
        trainer.train(5)
        out[kind] = WeightsFile(trainer.preset, trainer.parameters(), (16, 16))
    return out


def infer(device, weights, size=(40, 24)):
    trainer = Trainer(device, None, weights.preset)
    trainer.set_parameters(weights.parameters)
    return trainer.prediction(size).reshape(-1, 3)


def grid_uv(w=40, h=24):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1)


@pytest.mark.parametrize("kind", list(PRESETS))
def test_save_load_round_trip(device, trained, tmp_path, kind):
    from app.formats import export_weights, open_network
    weights = trained[kind]
    export_weights(weights, "ntsw", tmp_path / "a.ntsw")
    loaded = open_network(tmp_path / "a.ntsw")
    assert loaded.preset.network == weights.preset.network and loaded.preset.network.is_array
    np.testing.assert_array_equal(loaded.parameters, weights.parameters)
    np.testing.assert_array_equal(infer(device, loaded), infer(device, weights))


@pytest.mark.parametrize("kind", list(PRESETS))
def test_npz_and_json_reproduce_infer(device, trained, tmp_path, kind):
    """One array per layer with a leading tile axis; evaluated with the documented tile rule."""
    from app.formats import export_weights
    weights = trained[kind]
    export_weights(weights, "npz", tmp_path / "a.npz")
    data = np.load(tmp_path / "a.npz")
    network = json.loads(str(data["network"]))
    assert network["tiles"] == [3, 2] and network["blend"] == (kind == "blend") and "tile_rule" in network
    layers = [(data[f"layer_{l}_weights"].astype(np.float64), data[f"layer_{l}_biases"].astype(np.float64))
              for l in range(3)]
    assert layers[0][0].shape == (6, 8, 8) and layers[2][1].shape == (6, 3)
    net = weights.preset.network
    uv = grid_uv()
    y, _ = ref.array_forward(layers, ref.array_corners(uv, net.tiles, net.blend, net.local_uv),
                             lambda x: ref.encode_like(x, weights.preset.encoding), net.activation,
                             net.output_activation, net.leaky_relu_alpha)
    np.testing.assert_allclose(infer(device, weights), y, rtol=1e-4, atol=1e-5)
    for arrays in ("plain", "base64"):
        export_weights(weights, "json", tmp_path / "a.json", arrays=arrays)
        doc = json.loads((tmp_path / "a.json").read_text())
        first = doc["layers"][0]
        assert first["tiles"] == 6
        values = (np.array(first["weights"]) if arrays == "plain" else
                  np.frombuffer(__import__("base64").b64decode(first["weights"]), "<f4"))
        np.testing.assert_array_equal(values.reshape(6, 8, 8), layers[0][0])


@pytest.mark.parametrize("kind", list(PRESETS))
def test_slang_export_reproduces_infer(device, trained, tmp_path, kind):
    """evaluate(uv) picks (and blends) tiles as training does; its weights come in a buffer."""
    import slangpy as spy
    from app.formats import export_weights
    weights = trained[kind]
    source, weights_bin = export_weights(weights, "slang", tmp_path / f"{kind}.slang")
    values = np.frombuffer(weights_bin.read_bytes(), "<f4").copy()
    np.testing.assert_array_equal(values, weights.parameters)
    buf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                               data=values)
    module = spy.Module.load_from_file(device, str(source))
    got = module.evaluate.set(nts_weights=buf)(grid_uv().astype(np.float32), _result="numpy")
    np.testing.assert_allclose(got, infer(device, weights), atol=1e-5, rtol=1e-4)


def test_exports_that_hold_one_network_refuse_arrays(trained, tmp_path):
    from app.formats import export_weights
    for fmt in ("rtxns", "rtxns-json"):
        with pytest.raises(StudioError, match=f"{fmt} holds one network and this is an array of 3x2 networks"):
            export_weights(trained["plain"], fmt, tmp_path / "a.bin")
    with pytest.raises(StudioError, match="exports with its weights in a buffer"):
        export_weights(trained["plain"], "hlsl", tmp_path / "a.hlsl", shader_weights="constants")
    assert not list(tmp_path.iterdir())


def test_coopvec_refuses_arrays(trained):
    from app.device import DeviceInfo, choose_mlp_path
    from app.mlp_coopvec import coopvec_supports
    reason = coopvec_supports(replace(trained["plain"].preset.network, precision="float16"))
    assert reason == "the CoopVec path does not train network arrays (otype array) yet"
    info = DeviceInfo(adapter="a GPU", software=False, cooperative_vector=True)
    assert choose_mlp_path(info, None, reason) == "portable"
    with pytest.raises(StudioError, match="does not train network arrays.*use --mlp portable"):
        choose_mlp_path(info, "coopvec", reason)


def test_cli_trains_infers_and_refuses_rtxns_export(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT, TEXTURES

    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
    r = run("train", "--texture", str(TEXTURES / "chelsea.png"), "--size", "32x32", "--preset", "tinn-array",
            "--steps", "4", "--batch", "1024", "--out", "a.ntsw", "--no-record")
    assert r.returncode == 0, r.stderr
    r = run("infer", "--weights", "a.ntsw", "--out", "a.png", "--size", "20x12")
    assert r.returncode == 0 and (tmp_path / "a.png").is_file(), r.stderr
    r = run("export", "--weights", "a.ntsw", "--format", "rtxns", "--out", "a.bin")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "error: rtxns holds one network" in r.stderr, r.stderr
    assert not (tmp_path / "a.bin").exists()


def test_tile_psnr():
    """The heat map's per-tile PSNR: pixels belong to the tile their centre lies in."""
    from app.tiles import tile_psnr
    reference = np.full((6, 10, 3), 0.5)
    prediction = reference.copy()
    prediction[:3, :5] += 0.1     # tile (0, 0) of 2 x 2: error 0.01 -> 20 dB
    prediction[3:, 5:] = 2.0      # clamped to 1: error 0.25 -> 6.02 dB
    values = tile_psnr(prediction, reference, (2, 2))
    np.testing.assert_allclose(values[0, 0], 20.0)
    np.testing.assert_allclose(values[1, 1], 10 * np.log10(4))
    assert values[0, 1] > 100 and values[1, 0] > 100


def test_hlsl_export_reproduces_infer(device, trained, tmp_path):
    """The HLSL file (Slang compiles it here) through its example entry point, blended array."""
    import slangpy as spy
    from app.formats import export_weights
    weights = trained["blend"]
    source, weights_bin = export_weights(weights, "hlsl", tmp_path / "blend.hlsl")
    values = np.frombuffer(weights_bin.read_bytes(), "<f4").copy()
    buf = device.create_buffer(element_count=values.size, struct_size=4, usage=spy.BufferUsage.shader_resource,
                               data=values)
    session = device.create_slang_session(compiler_options={"defines": {"NTS_EXAMPLE_ENTRY": "1"}})
    module = session.load_module_from_source("nts_array_hlsl", source.read_text(), str(source))
    kernel = device.create_compute_kernel(session.link_program([module], [module.entry_point("nts_render")]))
    w, h = 40, 24
    tex = device.create_texture(format=spy.Format.rgba32_float, width=w, height=h,
                                usage=spy.TextureUsage.unordered_access | spy.TextureUsage.shader_resource)
    kernel.dispatch(thread_count=[w, h, 1], vars={"nts_output": tex, "nts_weights": buf})
    device.wait_for_idle()
    got = tex.to_numpy()[:, :, :3].reshape(-1, 3)
    np.testing.assert_allclose(got, infer(device, weights), atol=1e-5, rtol=1e-4)
