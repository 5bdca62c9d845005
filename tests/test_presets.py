"""Every bundled preset loads, trains a few steps on a tiny texture and improves PSNR."""
import pytest

from app.preset import available_presets, load_preset
from app.texture import load_image
from app.trainer import Trainer
from conftest import ROOT


@pytest.fixture(scope="module")
def tiny_image():
    return load_image(ROOT / "textures/chelsea.png", (32, 32))


@pytest.mark.parametrize("name", available_presets())
def test_preset_trains(device, tiny_image, name):
    preset = load_preset(name)
    assert preset.description, "each preset says what it reproduces"
    trainer = Trainer(device, tiny_image, preset.with_training(batch_size=1024))
    before = trainer.psnr()
    trainer.train(40)
    trainer.check_finite()
    assert trainer.psnr() > before + 2.0, (before, trainer.psnr())


def test_reference_presets_are_bundled():
    assert {"rtxns-simple-training", "drjit-triencode", "drjit-hashgrid", "tinn-frequency", "tcnn-hash",
            "tcnn-oneblob", "drjit-permuto"} <= set(available_presets())
