"""End-to-end training on a small texture: it learns, and it is reproducible."""
import numpy as np
import pytest

from app.errors import StudioError
from app.preset import load_preset
from app.texture import load_image
from app.trainer import Trainer

TEXTURE = "textures/chelsea.png"


@pytest.fixture(scope="module")
def image():
    from conftest import ROOT
    return load_image(ROOT / TEXTURE, (64, 64))


def small_rtxns(steps=300):
    return load_preset("rtxns-simple-training").with_training(batch_size=1024, steps=steps)


def test_training_raises_psnr_far_above_the_untrained_network(device, image):
    trainer = Trainer(device, image, small_rtxns())
    before = trainer.psnr()
    trainer.train(300)
    after = trainer.psnr()
    assert after > before + 8.0, (before, after)
    assert after > 20.0
    assert np.isfinite(trainer.last_loss())


def test_same_seed_gives_identical_weights(device, image):
    runs = []
    for _ in range(2):
        trainer = Trainer(device, image, small_rtxns(), seed=42)
        trainer.train(20)
        runs.append(trainer.parameters())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = Trainer(device, image, small_rtxns(), seed=43)
    other.train(20)
    assert not np.array_equal(other.parameters(), runs[0])


def test_divergence_is_reported(device, image):
    from dataclasses import replace
    preset = small_rtxns()
    preset = replace(preset, network=replace(preset.network, output_activation="none", precision="float32"))
    trainer = Trainer(device, image, preset)
    trainer.optimizer = replace(trainer.optimizer, otype="sgd", learning_rate=1e30)
    with pytest.raises(StudioError, match="training diverged at step") as err:
        for _ in range(20):
            trainer.train(1)
            trainer.check_finite()
    assert "float32" not in str(err.value)  # it is float32 already: only the learning rate can help
