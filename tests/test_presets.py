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
            "tcnn-oneblob", "drjit-permuto", "drjit-muon"} <= set(available_presets())


def test_sections_are_declared_once():
    """Parsing, writing back, the command line and the window read the same declarations (app/registry.py)."""
    import dataclasses
    from app.cli import build_parser, train_options
    from app.network import NetworkConfig
    from app.optimizers import OPTIMIZERS, OptimizerConfig
    from app.preset import TrainingConfig
    from app.registry import settings_of
    for cls in (NetworkConfig, TrainingConfig, OptimizerConfig):
        declared = [s.name for s in settings_of(cls)]
        assert declared == [f.name for f in dataclasses.fields(cls) if f.name != "otype"]
        assert all(s.doc for s in settings_of(cls)), cls
    for otype in OPTIMIZERS.names():  # each optimizer's keys are exactly its declared settings
        keys = set(OptimizerConfig.from_config({"otype": otype}).settings()) - {"otype"}
        assert keys == {s.name for s in settings_of(OptimizerConfig, otype)}
    flags = {s.flag for _, s in train_options()}
    assert flags == {"--batch", "--steps", "--seed", "--transform", "--sampling", "--lr"}
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if a.option_strings == ["--transform"])
    assert list(train.choices) == ["none", "flip", "zoom"]


def test_readme_preset_reference_is_current():
    """The README's keys, otypes and bundled-preset tables are written from the declarations and preset files;
    after changing either, run `python -m app.preset_docs --write`."""
    from app.preset_docs import README, updated_readme
    text = README.read_text(encoding="utf-8")
    assert updated_readme(text) == text, "README's preset reference is stale: run python -m app.preset_docs --write"


def test_every_setting_and_otype_is_documented():
    from app.encodings import ENCODINGS
    from app.losses import LOSSES
    from app.optimizers import OPTIMIZERS
    from app.registry import settings_of
    for registry in (ENCODINGS, LOSSES, OPTIMIZERS):
        for name in registry.names_in_order():
            assert registry.doc(name), (registry.family, name)
    for name in ENCODINGS.names_in_order():
        assert all(s.doc for s in settings_of(ENCODINGS.lookup(name)[1])), name


def test_muon_preset_round_trips_with_its_adamw_section():
    """Muon's nested adamw section is an optimizer section of its own: parsed, checked and written back."""
    import json
    from app.errors import StudioError
    from app.preset import Preset
    preset = load_preset("drjit-muon")
    assert preset.optimizer.otype == "muon" and preset.optimizer.elementwise.otype == "adamw"
    assert preset.training.sampling == "stratified"
    assert Preset.from_dict(json.loads(json.dumps(preset.to_dict())), preset.name) == preset
    data = preset.to_dict()
    for bad, message in [({"otype": "sgd"}, "must be adamw"), ({"learning_rate": -1}, r"optimizer\.adamw\.learning_rate"),
                         ({"momentum": 0.9}, "unknown key"), (3, "must be a JSON object")]:
        data["optimizer"]["adamw"] = bad
        with pytest.raises(StudioError, match=message):
            Preset.from_dict(data)
