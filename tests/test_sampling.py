"""Where training samples fall: stratified sampling visits every cell of its grid exactly once per epoch."""
import numpy as np
import pytest

import reference as ref
from app.encodings import IdentityEncoding
from app.network import NetworkConfig
from app.preset import Preset, TrainingConfig
from app.sampling import stratified_grid
from app.trainer import Trainer

NET = NetworkConfig(16, 1, "exp", "relu", bias=True)  # a test_mlp case: its kernels are compiled already


def test_grid_has_whole_batches_and_about_one_cell_per_texel():
    assert stratified_grid((16, 16), 64) == (16, 16, 4)
    gx, gy, steps = stratified_grid((24, 10), 64)  # 240 texels: 4 batches, cells as wide as the texture allows
    assert (gx * gy, steps) == (256, 4) and gx > gy
    gx, gy, steps = stratified_grid((451, 300), 16384)
    assert gx * gy == steps * 16384 and steps == 8
    assert stratified_grid((4, 4), 1000)[2] == 1  # at least one step per epoch


@pytest.mark.parametrize("size,batch", [((16, 16), 64), ((24, 10), 64), ((8, 8), 200)])
def test_stratified_covers_every_cell_once_per_epoch(device, size, batch):
    w, h = size
    image = np.random.default_rng(1).uniform(size=(h, w, 3)).astype(np.float32)
    preset = Preset(encoding=IdentityEncoding(), network=NET,
                    training=TrainingConfig(batch_size=batch, seed=3, sampling="stratified"))
    trainer = Trainer(device, image, preset)
    gx, gy, steps = stratified_grid(size, batch)
    orders = []
    for epoch in range(3):
        cells = []
        for _ in range(steps):
            trainer.train(1)
            uv = trainer.batch_inputs().astype(np.float64)  # the identity encoding: the uvs themselves
            np.testing.assert_allclose(uv, ref.stratified_uv(3, trainer.step, np.arange(batch), (gx, gy, steps),
                                                             batch), rtol=1e-6, atol=1e-7)
            assert ((uv > 0) & (uv < 1)).all()
            cell = np.floor(uv * [gx, gy]).astype(int)
            inside = uv * [gx, gy] - cell  # jittered inside the cell, not on its corner
            assert ((inside > 0) & (inside < 1)).all()
            cells.append(cell[:, 1] * gx + cell[:, 0])
        order = np.concatenate(cells)
        np.testing.assert_array_equal(np.sort(order), np.arange(gx * gy), err_msg=f"epoch {epoch}")
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]), "each epoch shuffles anew"
    assert not np.array_equal(orders[0], np.arange(gx * gy)), "the walk is shuffled"


def test_uniform_sampling_is_unchanged(device, small_image):
    """Uniform sampling still draws the uvs the numpy reference draws (tests/test_mlp.py relies on it)."""
    trainer = Trainer(device, small_image, Preset(encoding=IdentityEncoding(), network=NET,
                                                  training=TrainingConfig(batch_size=64, seed=3)))
    trainer.train(2)
    np.testing.assert_allclose(trainer.batch_inputs(), ref.random_uv(3, 2, np.arange(64)), rtol=1e-6)
