"""The compare command: CSV and figure for a texture, a network among the codecs, and its refusals."""
import csv

import numpy as np
import pytest
from PIL import Image

from app.preset import load_preset
from app.footprint import bits_per_pixel
from test_inputs import run_cli


@pytest.fixture()
def texture(tmp_path):
    path = tmp_path / "t.png"
    y, x = np.mgrid[0:22, 0:30]
    rgb = np.stack([x * 8, y * 11, (x * y) % 255], 2).astype(np.uint8)  # not a multiple of any block size
    Image.fromarray(rgb).save(path)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_compare_codecs_writes_figure_and_table(tmp_path, texture):
    fig, table = tmp_path / "rd.png", tmp_path / "rd.csv"
    r = run_cli("compare", "--texture", str(texture), "--out", str(fig), "--csv", str(table))
    assert r.returncode == 0, r.stderr
    rows = read_csv(table)
    assert ",".join(rows[0]) == "codec,setting,bits_per_pixel,psnr,ssim,flip,seconds"
    assert {row[0] for row in rows[1:]} == {"jpeg", "webp", "bc1", "bc7", "astc"}
    assert [row[1] for row in rows[1:] if row[0] == "astc"] == ["4x4", "5x5", "6x6", "8x8", "10x10", "12x12"]
    assert r.stdout == table.read_text()
    assert Image.open(fig).size[0] > 800


def test_compare_places_a_network_among_the_codecs(tmp_path, texture):
    from app.network import Layout, initial_parameters
    from app.weights_io import WeightsFile, save_weights
    preset = load_preset("tinn-frequency")
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    weights = tmp_path / "net.ntsw"
    save_weights(weights, WeightsFile(preset, initial_parameters(layout, 1), (30, 22), "none",
                                      {"train_seconds": 12.5}))
    table = tmp_path / "rd.csv"
    r = run_cli("compare", "--texture", str(texture), "--weights", str(weights), "--out", str(tmp_path / "rd.png"),
                "--csv", str(table))
    assert r.returncode == 0, r.stderr
    net = [row for row in read_csv(table) if row[0] == "network"]
    assert len(net) == 1 and net[0][1] == "net.ntsw"
    assert float(net[0][2]) == pytest.approx(bits_per_pixel(preset, (30, 22)), rel=1e-5)
    assert 0 < float(net[0][3]) < 40 and float(net[0][6]) == 12.5


def test_compare_refusals_are_one_line(tmp_path, texture):
    from app.weights_io import WeightsFile, save_weights
    preset = load_preset("tinn-frequency")
    from app.network import Layout, initial_parameters
    flipped = tmp_path / "flipped.ntsw"
    save_weights(flipped, WeightsFile(preset, initial_parameters(Layout.of(preset.encoding.output_dims,
                                                                           preset.network), 1), (30, 22), "flip"))
    out = str(tmp_path / "rd.png")
    for args, message in [
        (("--texture", str(tmp_path / "missing.png"), "--out", out), "image not found"),
        (("--texture", str(texture), "--out", str(tmp_path / "no" / "rd.png")), "folder does not exist"),
        (("--texture", str(texture), "--out", str(tmp_path / "rd.jpg")), "must be a .png file"),
        (("--texture", str(texture), "--weights", str(texture), "--out", out), "neither a Neural Texture Studio weights file"),
        (("--texture", str(texture), "--weights", str(flipped), "--transform", "zoom", "--out", out),
         "trained with transform flip"),
    ]:
        r = run_cli("compare", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip().splitlines() == [f"error: {r.stderr.strip().removeprefix('error: ')}"]
        assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "rd.png").exists()
