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
        trainer.optimizer = opt
        trainer.reset()
        w = trainer.parameters().astype(np.float64)
        state = (np.zeros_like(w), np.zeros_like(w))
        for step in range(1, 5):
            g = trainer.gradients()
            trainer.train(1)
            w, state = ref.optimizer_step(opt, w, g, state, step)
            np.testing.assert_allclose(trainer.parameters(), w, rtol=2e-5, atol=1e-6, err_msg=str(opt))


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
