"""The trainable hash grid encoding against numpy: index function, forward, table gradients."""
import numpy as np
import pytest

import reference as ref
from app.encodings import HashGridEncoding
from app.losses import LossConfig
from app.network import NetworkConfig
from app.preset import Preset, TrainingConfig
from app.trainer import Trainer

# Levels 0 and 1 fit their 64-entry tables (dense), the rest are hashed.
GRID = HashGridEncoding(n_levels=5, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4,
                        per_level_scale=2.0)
NET = NetworkConfig(16, 1, "relu", "none")
BATCH = 150


@pytest.fixture(scope="module")
def trainer(device, small_image):
    t = Trainer(device, small_image, Preset(encoding=GRID, network=NET, loss=LossConfig("l2"),
                                            training=TrainingConfig(batch_size=BATCH, seed=5)))
    # a table with structure (the initial one is within 1e-4 of zero)
    rng = np.random.default_rng(2)
    params = t.parameters()
    params[t.layout.parameter_count:] = rng.uniform(-1, 1, GRID.parameter_count)
    t.set_parameters(params)
    return t


def test_levels_are_dense_then_hashed():
    dense = [level["dense"] for level in GRID.levels()]
    assert dense == [True, True, False, False, False]
    assert [level["resolution"] for level in GRID.levels()] == [4, 8, 16, 32, 64]


def test_hash_index_matches_reference():
    # the XOR-of-primes hash in uint32 arithmetic, and dense row-major indexing
    level = GRID.levels()[3]
    px, py = np.array([0, 1, 5, 31, 32]), np.array([0, 0, 7, 31, 3])
    expected = [(x ^ ((y * 2654435761) & 0xFFFFFFFF)) % level["size"] + level["offset"] for x, y in zip(px, py)]
    assert list(ref.hash_grid_index(level, px, py)) == expected
    dense = GRID.levels()[1]
    assert list(ref.hash_grid_index(dense, np.array([3]), np.array([2]))) == [dense["offset"] + 3 + 2 * 8]


def numpy_loss_and_inputs(trainer, params, uv, image):
    table = params[trainer.layout.parameter_count:]
    x = ref.hash_grid_encode(uv, table, GRID)
    layers = trainer.layout.layers_of(params[:trainer.layout.parameter_count].astype(np.float64))
    y, cache = ref.forward(layers, x, NET.activation, NET.output_activation, 0.0)
    t = ref.fetch(image, uv)
    return ((y - t) ** 2).mean(), x, layers, cache, y, t


def test_forward_and_table_gradient_match_numpy(trainer, small_image):
    g_gpu = trainer.gradients()
    uv = ref.random_uv(trainer.seed, trainer.step + 1, np.arange(BATCH))
    params = trainer.parameters().astype(np.float64)
    _, x, layers, cache, y, t = numpy_loss_and_inputs(trainer, params, uv, small_image)
    np.testing.assert_allclose(trainer.batch_inputs(), x, rtol=1e-5, atol=1e-5)
    # analytic: back through the MLP to its inputs, then scattered into the table
    dy = 2 * (y - t) / (BATCH * 3)
    d = dy
    for i in reversed(range(len(layers))):
        h, z = cache[i]
        d = d * ref.act_grad(NET.output_activation if i == len(layers) - 1 else NET.activation, z, 0.0)
        d = d @ layers[i][0].astype(np.float64)
    g_table = ref.hash_grid_backward(uv, d, GRID)
    n = trainer.layout.parameter_count
    scale = np.abs(g_table).max()
    np.testing.assert_allclose(g_gpu[n:], g_table, rtol=1e-3, atol=1e-4 * scale)
    assert np.count_nonzero(g_table) > 20  # several levels and corners really receive gradient


def test_table_gradient_equals_finite_differences(trainer, small_image):
    g_gpu = trainer.gradients()
    uv = ref.random_uv(trainer.seed, trainer.step + 1, np.arange(BATCH))
    params = trainer.parameters().astype(np.float64)
    n = trainer.layout.parameter_count
    for i in n + np.argsort(-np.abs(g_gpu[n:]))[:8]:  # the entries with the largest gradients
        eps = 1e-4
        plus, minus = params.copy(), params.copy()
        plus[i] += eps
        minus[i] -= eps
        fd = (numpy_loss_and_inputs(trainer, plus, uv, small_image)[0]
              - numpy_loss_and_inputs(trainer, minus, uv, small_image)[0]) / (2 * eps)
        assert abs(g_gpu[i] - fd) <= 1e-3 * abs(fd) + 1e-7, (i, g_gpu[i], fd)


def test_hash_grid_learns(device, small_image):
    grid = HashGridEncoding(n_levels=4, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4,
                            per_level_scale=2.0)
    t = Trainer(device, small_image, Preset(encoding=grid, network=NetworkConfig(16, 1, "relu", "sigmoid"),
                                            training=TrainingConfig(batch_size=512)))
    t.optimizer = type(t.optimizer)("adam", 1e-2, 0.9, 0.99, 1e-15)
    before = t.psnr()
    t.train(150)
    assert t.psnr() > before + 10, (before, t.psnr())
