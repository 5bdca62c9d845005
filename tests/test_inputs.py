"""Bad and odd input: images, presets and the command line give one-line explanations."""
import json
import subprocess
import sys

import numpy as np
import pytest
import imageio.v3 as iio
from PIL import Image

from app.errors import StudioError
from app.preset import Preset, load_preset
from app.texture import load_image, parse_size
from conftest import ROOT


def test_missing_zero_byte_and_non_image_files(tmp_path):
    with pytest.raises(StudioError, match="image not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(StudioError, match=r"empty.png is empty \(0 bytes\)"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("this is not an image")
    with pytest.raises(StudioError, match="cannot read notes.png as an image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(StudioError, match="is a folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("mode,dtype,scale", [("L", np.uint8, 255), ("RGBA", np.uint8, 255), ("I;16", np.uint16, 65535),
                                              ("LA", np.uint8, 255)])
def test_grayscale_alpha_and_16_bit_become_rgb(tmp_path, mode, dtype, scale):
    rng = np.random.default_rng(1)
    channels = {"L": 0, "RGBA": 4, "I;16": 0, "LA": 2}[mode]
    shape = (5, 7) if channels == 0 else (5, 7, channels)
    data = rng.integers(0, scale, size=shape, dtype=np.int64).astype(dtype)
    path = tmp_path / "img.png"
    iio.imwrite(path, data)
    rgb = load_image(path)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.float32
    gray = data if channels == 0 else data[..., 0]
    expected = gray / scale if channels in (0, 2) else data[..., 0] / scale
    np.testing.assert_allclose(rgb[..., 0], expected, atol=1e-6)
    if channels in (0, 2):
        np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_size_parsing_and_resampling(tmp_path):
    assert parse_size("64x32") == (64, 32)
    with pytest.raises(StudioError, match="must look like WIDTHxHEIGHT"):
        parse_size("64")
    rgb = load_image(ROOT / "textures/brick.png", (32, 16))
    assert rgb.shape == (16, 32, 3)


def write_preset(tmp_path, data):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    return path


def test_preset_errors_name_the_problem(tmp_path):
    with pytest.raises(StudioError, match=r"network: unknown key\(s\) n_neuron"):
        load_preset(write_preset(tmp_path, {"network": {"n_neuron": 64}}))
    with pytest.raises(StudioError, match=r"network.n_neurons = 512 is out of range \[4, 128\]"):
        load_preset(write_preset(tmp_path, {"network": {"n_neurons": 512}}))
    with pytest.raises(StudioError, match=r"network.n_hidden_layers must be an integer, not '4'"):
        load_preset(write_preset(tmp_path, {"network": {"n_hidden_layers": "4"}}))
    with pytest.raises(StudioError, match="unknown activation 'gelu'"):
        load_preset(write_preset(tmp_path, {"network": {"activation": "gelu"}}))
    with pytest.raises(StudioError, match=r"unknown key\(s\) schedule"):
        load_preset(write_preset(tmp_path, {"schedule": {}}))
    with pytest.raises(StudioError, match="unknown loss 'huber'"):
        load_preset(write_preset(tmp_path, {"loss": {"otype": "huber"}}))
    with pytest.raises(StudioError, match="training.batch_size = 1 is out of range"):
        load_preset(write_preset(tmp_path, {"training": {"batch_size": 1}}))
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(StudioError, match="not valid JSON"):
        load_preset(tmp_path / "broken.json")
    with pytest.raises(StudioError, match="unknown preset 'nope'; available: .*rtxns-simple-training"):
        load_preset("nope")


def test_bundled_presets_load_and_round_trip():
    from app.preset import available_presets
    assert "rtxns-simple-training" in available_presets()
    for name in available_presets():
        preset = load_preset(name)
        assert Preset.from_dict(preset.to_dict(), name) == preset
    rtxns = load_preset("rtxns-simple-training")
    assert rtxns.encoding.output_dims == 12
    assert (rtxns.network.n_neurons, rtxns.network.n_hidden_layers, rtxns.network.precision) == (64, 4, "float16")


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_cli_train_then_infer(tmp_path):
    out, preview, image = tmp_path / "w.ntsw", tmp_path / "p.png", tmp_path / "i.png"
    r = run_cli("train", "--texture", "textures/coffee.png", "--preset", "rtxns-simple-training", "--steps", "40",
                "--batch", "1024", "--size", "48x32", "--out", str(out), "--preview", str(preview))
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr.lower()  # shaders compile cleanly
    last = r.stdout.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split())
    assert list(fields) == ["psnr", "samples_per_s", "steps", "seconds", "ssim", "flip", "run"]  # run: its id in the log
    assert fields["steps"] == "40" and float(fields["psnr"]) > 5
    r = run_cli("infer", "--weights", str(out), "--out", str(image))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(image)), np.asarray(Image.open(preview)))
    assert Image.open(image).size == (48, 32)


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    for args, message in [
        (("train", "--texture", str(tmp_path / "missing.png")), "image not found"),
        (("train", "--texture", str(tmp_path / "bad.png")), "cannot read bad.png as an image"),
        (("train", "--texture", "textures/coffee.png", "--preset", "nope"), "unknown preset 'nope'"),
        (("infer", "--weights", str(tmp_path / "bad.png"), "--out", str(tmp_path / "x.png")),
         "neither a Neural Texture Studio weights file nor an RTXNS network"),
    ]:
        r = run_cli(*args)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [f"error: {r.stderr.strip().removeprefix('error: ')}"]
        assert message in r.stderr and "Traceback" not in r.stderr


def test_missing_vulkan_driver_is_one_line(tmp_path):
    import os
    env = dict(os.environ, VK_ICD_FILENAMES=str(tmp_path / "none.json"), VK_DRIVER_FILES=str(tmp_path / "none.json"))
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "info"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: no usable Vulkan driver found")
    assert "mesa-vulkan-drivers" in r.stderr and len(r.stderr.strip().splitlines()) == 1
