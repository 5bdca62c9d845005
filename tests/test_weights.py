"""The weights file: round trip and every refusal."""
import struct

import numpy as np
import pytest

from app.errors import StudioError
from app.preset import load_preset
from app.trainer import Trainer
from app.formats import open_network
from app.network_file import WeightsFile
from app.weights_io import FORMAT_VERSION, decode_weights, encode_weights, save_weights


@pytest.fixture(scope="module")
def trained(device, small_image):
    preset = load_preset("rtxns-simple-training").with_training(batch_size=512)
    trainer = Trainer(device, small_image, preset)
    trainer.train(5)
    return trainer


def test_save_load_infer_is_bit_identical(device, trained, tmp_path):
    path = tmp_path / "w.ntsw"
    save_weights(path, WeightsFile(trained.preset, trained.parameters(), (16, 16), "none", {"steps": 5}))
    loaded = open_network(path)
    np.testing.assert_array_equal(loaded.parameters, trained.parameters())
    assert loaded.preset.to_dict() == trained.preset.to_dict()
    assert loaded.texture_size == (16, 16) and loaded.stats == {"steps": 5}
    fresh = Trainer(device, None, loaded.preset)
    fresh.set_parameters(loaded.parameters)
    np.testing.assert_array_equal(fresh.prediction((16, 16)), trained.prediction((16, 16)))
    assert not list(tmp_path.glob("*.tmp"))
    import os
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temp file's private 0600


@pytest.fixture()
def blob(trained):
    return encode_weights(WeightsFile(trained.preset, trained.parameters(), (16, 16)))


def test_truncated_file(blob):
    with pytest.raises(StudioError, match="truncated"):
        decode_weights(blob[:-100], "w.ntsw")
    with pytest.raises(StudioError, match="truncated or damaged"):
        decode_weights(blob[:40], "w.ntsw")


def test_flipped_byte(blob):
    for at in (len(blob) // 2, len(blob) - 40, 200):
        bad = bytearray(blob)
        bad[at] ^= 0x10
        with pytest.raises(StudioError, match="corrupted|unreadable header|invalid"):
            decode_weights(bytes(bad), "w.ntsw")
    bad = bytearray(blob)
    bad[len(blob) // 2] ^= 0x01
    with pytest.raises(StudioError, match=r"w.ntsw is corrupted \(checksum mismatch\)"):
        decode_weights(bytes(bad), "w.ntsw")


def test_wrong_magic(blob):
    with pytest.raises(StudioError, match="not a Neural Texture Studio weights file"):
        decode_weights(b"PNG\0" + blob[4:], "w.ntsw")
    with pytest.raises(StudioError, match="not a Neural Texture Studio weights file"):
        decode_weights(b"", "w.ntsw")


def test_newer_version(blob):
    newer = blob[:8] + struct.pack("<I", FORMAT_VERSION + 1) + blob[12:]
    with pytest.raises(StudioError, match=f"newer version \\(format v{FORMAT_VERSION + 1}\\)"):
        decode_weights(newer, "w.ntsw")


def test_missing_file(tmp_path):
    with pytest.raises(StudioError, match="weights file not found"):
        open_network(tmp_path / "nope.ntsw")


def test_failed_save_leaves_no_damaged_file(trained, tmp_path):
    path = tmp_path / "w.ntsw"
    good = WeightsFile(trained.preset, trained.parameters())
    save_weights(path, good)
    before = path.read_bytes()
    with pytest.raises(StudioError, match="parameters but"):
        save_weights(path, WeightsFile(trained.preset, trained.parameters()[:-1]))
    assert path.read_bytes() == before
    with pytest.raises(StudioError, match="folder .* does not exist"):
        save_weights(tmp_path / "missing" / "w.ntsw", good)


def test_trainable_encoding_parameters_are_saved(device, small_image, tmp_path):
    from app.encodings import HashGridEncoding
    from app.network import NetworkConfig
    from app.preset import Preset, TrainingConfig
    grid = HashGridEncoding(n_levels=2, n_features_per_level=2, log2_hashmap_size=6, base_resolution=4)
    trainer = Trainer(device, small_image, Preset(encoding=grid, network=NetworkConfig(16, 1),
                                                  training=TrainingConfig(batch_size=256)))
    trainer.train(3)
    path = tmp_path / "grid.ntsw"
    save_weights(path, WeightsFile(trainer.preset, trainer.parameters(), (16, 16)))
    loaded = open_network(path)
    assert loaded.parameters.size == trainer.layout.parameter_count + grid.parameter_count
    fresh = Trainer(device, None, loaded.preset)
    fresh.set_parameters(loaded.parameters)
    np.testing.assert_array_equal(fresh.prediction((16, 16)), trainer.prediction((16, 16)))
