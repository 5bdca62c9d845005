"""The trainable table encodings (hash grid, permutohedral lattice) against numpy: index functions,
lattice geometry, forward, table gradients (analytic and finite differences), learning."""
import numpy as np
import pytest

import reference as ref
from app.encodings import HashGridEncoding, PermutoEncoding
from app.losses import LossConfig
from app.network import NetworkConfig
from app.optimizers import OptimizerConfig
from app.preset import Preset, TrainingConfig
from app.trainer import Trainer

# Levels 0 and 1 fit their 64-entry tables (dense), the rest are hashed.
GRID = HashGridEncoding(n_levels=5, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4,
                        per_level_scale=2.0)
LATTICE = PermutoEncoding(n_levels=4, n_features_per_level=2, log2_hashmap_size=7, base_resolution=3,
                          per_level_scale=2.0)
TABLES = {"hash_grid": (GRID, ref.hash_grid_corners), "permuto": (LATTICE, ref.permuto_corners)}
NET = NetworkConfig(16, 1, "relu", "none")
BATCH = 150


@pytest.fixture(scope="module", params=list(TABLES))
def trainer(request, device, small_image):
    encoding, _ = TABLES[request.param]
    t = Trainer(device, small_image, Preset(encoding=encoding, network=NET, loss=LossConfig("l2"),
                                            training=TrainingConfig(batch_size=BATCH, seed=5)))
    # a table with structure (the initial one is within 1e-4 of zero)
    rng = np.random.default_rng(2)
    params = t.parameters()
    params[t.layout.parameter_count:] = rng.uniform(-1, 1, encoding.parameter_count)
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


def corners_of(trainer):
    return TABLES[trainer.encoding.otype][1]


def numpy_loss_and_inputs(trainer, params, uv, image):
    table = params[trainer.layout.parameter_count:]
    x = ref.table_encode(uv, table, trainer.encoding, corners_of(trainer))
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
    g_table = ref.table_backward(uv, d, trainer.encoding, corners_of(trainer))
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


@pytest.mark.parametrize("opt", [OptimizerConfig("rmsprop", 1e-2, alpha=0.9, momentum=0.5),
                                 OptimizerConfig("muon", 0.02, momentum=0.95,
                                                 adamw=OptimizerConfig("adamw", 1e-2, weight_decay=0.1))])
def test_optimizers_step_the_table_like_numpy(trainer, opt):
    """The table's workgroups of optimizer_step run the shared update rule: RMSProp, and Muon's AdamW (Muon
    itself steps only the MLP's weight matrices)."""
    saved = trainer.parameters()
    trainer.optimizer = opt
    trainer.set_parameters(saved)
    w = saved.astype(np.float64)
    state = (np.zeros_like(w), np.zeros_like(w))
    for step in range(1, 4):
        g = trainer.gradients()
        trainer.train(1)
        if opt.otype == "muon":
            w, state = ref.muon_step(opt, trainer.layout, w, g, state, step)
        else:
            w, state = ref.optimizer_step(opt, w, g, state, step)
        # the table's gradient sums with float atomics: the two passes may round differently
        np.testing.assert_allclose(trainer.parameters(), w, rtol=1e-4, atol=2e-5, err_msg=f"step {step}")
    trainer.optimizer = OptimizerConfig()
    trainer.set_parameters(saved)


def test_the_table_steps_with_its_own_optimizer(trainer):
    """A preset's encoding optimizer steps the table in the same pass as the MLP's optimizer steps the MLP."""
    saved = trainer.parameters()
    trainer.optimizer = OptimizerConfig("adam", 1e-2)
    trainer.encoding_optimizer_override = table_opt = OptimizerConfig("sgd", 0.5, momentum=0.5)
    trainer.set_parameters(saved)
    n = trainer.layout.parameter_count
    w = saved.astype(np.float64)
    mlp_state = (np.zeros(n), np.zeros(n))
    table_state = (np.zeros(w.size - n), np.zeros(w.size - n))
    for step in range(1, 4):
        g = trainer.gradients()
        trainer.train(1)
        mlp, mlp_state = ref.optimizer_step(trainer.optimizer, w[:n], g[:n], mlp_state, step)
        table, table_state = ref.optimizer_step(table_opt, w[n:], g[n:], table_state, step)
        w = np.concatenate([mlp, table])
        np.testing.assert_allclose(trainer.parameters(), w, rtol=1e-4, atol=2e-5, err_msg=f"step {step}")
    trainer.optimizer, trainer.encoding_optimizer_override = OptimizerConfig(), None
    trainer.set_parameters(saved)


def test_a_rejected_table_gradient_skips_the_step(trainer):
    """A contribution the fixed-point gradient cannot hold (non-finite, or too large) is counted; weight_gradients
    then skips the step, and the optimizer clears the gradient and the count."""
    saved = trainer.parameters()
    state = trainer.encoding_state
    state.reject_contributions()
    skipped = trainer.loss_scale_state()[1]
    trainer.train(1)
    np.testing.assert_array_equal(trainer.parameters(), saved)
    assert trainer.loss_scale_state()[1] == skipped + 1
    assert state.rejected_contributions() == 0  # the count cleared by the optimizer (gradients() clears it too)
    assert not state.gradients().any()  # consumed although skipped
    trainer.train(1)  # and the next step is taken
    assert trainer.loss_scale_state()[1] == skipped + 1
    assert np.abs(trainer.parameters() - saved).max() > 0
    trainer.set_parameters(saved)


def test_an_infinite_table_gradient_is_rejected(trainer):
    """A table value so large that the network's output overflows gives non-finite contributions: they are
    counted, not added (the MLP's own gradient check may skip the step as well)."""
    rejected = trainer.encoding_state.rejected_contributions
    saved = trainer.parameters()
    params = saved.copy()
    params[trainer.layout.parameter_count:] = 3e38
    trainer.set_parameters(params)
    assert rejected() == 0
    trainer.run_gradient_passes()
    assert rejected() > 0
    trainer.set_parameters(saved)  # clears the gradient and the count
    assert rejected() == 0


def test_a_finite_but_too_large_table_gradient_is_rejected(trainer):
    """Contributions of 32 or more (here: a table of 1e5, whose outputs miss by ~1e5) would risk overflowing
    the int64 sums: they are counted, not added, while the MLP's own gradient stays finite."""
    saved = trainer.parameters()
    params = saved.copy()
    params[trainer.layout.parameter_count:] = 1e5
    trainer.set_parameters(params)
    g = trainer.gradients()  # consumes the count: read it from a second gradient pass
    assert np.isfinite(g[:trainer.layout.parameter_count]).all()
    trainer.run_gradient_passes()
    assert trainer.encoding_state.rejected_contributions() > 0
    trainer.set_parameters(saved)


def test_hash_grid_training_is_bit_reproducible(device, small_image):
    """Integer sums do not depend on the order of the atomics: two runs from one seed give the same bits."""
    preset = Preset(encoding=GRID, network=NET, training=TrainingConfig(batch_size=1024, seed=3))
    runs = []
    for _ in range(2):
        t = Trainer(device, small_image, preset)
        t.train(5)
        runs.append(t.parameters())
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("otype", list(TABLES))
def test_table_encoding_learns(device, small_image, otype):
    encoding = type(TABLES[otype][0])(n_levels=4, n_features_per_level=2, log2_hashmap_size=8, base_resolution=4,
                                      per_level_scale=2.0)
    t = Trainer(device, small_image, Preset(encoding=encoding, network=NetworkConfig(16, 1, "relu", "sigmoid"),
                                            training=TrainingConfig(batch_size=512)))
    t.optimizer = type(t.optimizer)("adam", 1e-2, 0.9, 0.99, 1e-15)
    before = t.psnr()
    t.train(150)
    assert t.psnr() > before + 10, (before, t.psnr())


def test_permutohedral_simplex_geometry():
    rng = np.random.default_rng(3)
    p = rng.uniform(-20, 20, (5000, 2))
    elevated, keys, weights = ref.permuto_simplex(p)
    # barycentric weights: a partition of unity, non-negative
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-12)
    assert weights.min() > -1e-12
    # vertices are lattice points (coordinates sum to 0, all congruent mod 3) and reproduce the point
    assert (keys.sum(2) == 0).all()
    assert ((keys - keys[:, :, :1]) % 3 == 0).all()
    np.testing.assert_allclose((weights[:, :, None] * keys).sum(1), elevated, atol=1e-9)


def test_permutohedral_encoding_is_continuous_across_simplex_boundaries():
    rng = np.random.default_rng(4)
    table = rng.uniform(-1, 1, LATTICE.parameter_count)
    uv = rng.uniform(0, 1, (4000, 2))
    step = rng.normal(size=(4000, 2)) * 1e-7
    a = ref.table_encode(uv, table, LATTICE, ref.permuto_corners)
    b = ref.table_encode(uv + step, table, LATTICE, ref.permuto_corners)
    # a jump at a simplex boundary would be O(1); a continuous interpolant moves by O(scale * |step|)
    assert np.abs(a - b).max() < 1e-4
    # and the points really do land in many different simplices
    entries, _ = ref.permuto_corners(uv, LATTICE.levels()[3])
    assert len(np.unique(np.sort(entries, 1), axis=0)) > 100


def random_table_trainer(device, image, encoding, network, seed):
    """A Trainer whose table starts uniform in [-1, 1] (the initial one is within 1e-4 of zero); and its
    parameters."""
    t = Trainer(device, image, Preset(encoding=encoding, network=network, training=TrainingConfig(batch_size=BATCH)))
    params = t.parameters()
    params[t.layout.parameter_count:] = np.random.default_rng(seed).uniform(-1, 1, encoding.parameter_count)
    t.set_parameters(params)
    return t, params


def test_float16_networks_read_a_float16_table(device, small_image):
    t, _ = random_table_trainer(device, small_image, GRID, NetworkConfig(16, 1, "relu", "none", precision="float16"), 6)
    t.train(2)
    master = t.parameters()[t.layout.parameter_count:]
    table = t.encoding_state.table.to_numpy().view(np.float16).reshape(-1)[:GRID.parameter_count]
    np.testing.assert_array_equal(table, master.astype(np.float16))  # rounded to nearest
    t.gradients()  # a forward pass with the table as it is now
    uv = ref.random_uv(t.seed, t.step + 1, np.arange(BATCH))
    expected = ref.table_encode(uv, table.astype(np.float64), GRID, ref.hash_grid_corners)
    np.testing.assert_allclose(t.batch_inputs(), expected, atol=2e-3)  # inputs stored as float16 too


@pytest.mark.parametrize("features", [1, 8])
def test_entries_of_one_and_eight_features_read_and_store_as_whole_texels(device, small_image, features):
    # the forward copy's texels hold an entry's features (1: one per read, four reads per chunk; 8: two
    # float4 reads per entry); the optimizer writes them, the forward pass reads them back
    grid = HashGridEncoding(n_levels=3, n_features_per_level=features, log2_hashmap_size=5, base_resolution=4,
                            per_level_scale=2.0)
    t, params = random_table_trainer(device, small_image, grid, NET, 9)
    t.train(1)
    master = t.parameters()[t.layout.parameter_count:]
    assert np.abs(master - params[t.layout.parameter_count:]).max() > 0  # the step moved the table
    t.gradients()  # a forward pass with the table as the optimizer stored it
    uv = ref.random_uv(t.seed, t.step + 1, np.arange(BATCH))
    expected = ref.table_encode(uv, master, grid, ref.hash_grid_corners)
    np.testing.assert_allclose(t.batch_inputs(), expected, rtol=1e-5, atol=1e-6)
