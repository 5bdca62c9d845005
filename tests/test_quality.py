"""Quality metrics, a network's bits per pixel, and the codecs it is compared with (no GPU except the last test)."""
import math

import numpy as np
import pytest

from app import codecs
from app.errors import StudioError
from app.preset import Preset, load_preset
from app.footprint import bits_per_pixel, storage_bits
from app.quality import flip, measure, psnr, ssim, subsample, transformed_reference
from app.texture import load_image


@pytest.fixture(scope="module")
def photo():
    from conftest import TEXTURES
    return load_image(TEXTURES / "chelsea.png", (64, 48))


def numpy_psnr(reference, test):
    """PSNR written out independently of app.quality: peak 1, mean over all pixels and channels."""
    err = np.clip(test.astype(np.float64), 0, 1) - reference.astype(np.float64)
    return 10 * np.log10(1 / np.mean(err * err))


def test_bits_per_pixel_of_an_mlp():
    preset = load_preset("rtxns-simple-training")  # 12 inputs -> 4 x 64 -> 3, biases, float16
    params = (12 * 64 + 64) + 3 * (64 * 64 + 64) + (64 * 3 + 3)
    assert params == 13507
    assert storage_bits(preset) == params * 16
    assert bits_per_pixel(preset, (256, 256)) == pytest.approx(params * 16 / 65536)
    from dataclasses import replace
    f32 = replace(preset, network=replace(preset.network, precision="float32"))
    assert bits_per_pixel(f32, (100, 50)) == pytest.approx(params * 32 / 5000)


def test_bits_per_pixel_counts_a_hash_grid_table_in_float32():
    preset = Preset.from_dict({
        "encoding": {"otype": "hash_grid", "n_levels": 2, "n_features_per_level": 2, "log2_hashmap_size": 4,
                     "base_resolution": 2, "per_level_scale": 2.0},
        "network": {"n_neurons": 16, "n_hidden_layers": 1, "bias": False, "precision": "float16"}})
    # level 0: 2x2 vertices (table rounded up to 8 entries); level 1: 4x4 = 16 entries; 2 features each
    table = (8 + 16) * 2
    mlp = 4 * 16 + 16 * 3
    assert preset.encoding.parameter_count == table
    assert storage_bits(preset) == mlp * 16 + table * 32 == 3328
    assert bits_per_pixel(preset, (32, 26)) == pytest.approx(4.0)


def test_metrics_of_identical_and_different_images(photo):
    assert psnr(photo, photo) == math.inf
    assert ssim(photo, photo) == pytest.approx(1.0)
    assert flip(photo, photo) == pytest.approx(0.0, abs=1e-6)
    noisy = photo + np.random.default_rng(1).normal(0, 0.05, photo.shape).astype(np.float32)
    q = measure(photo, noisy)
    assert q.psnr == pytest.approx(numpy_psnr(photo, noisy), abs=1e-9)  # the test image is clamped first
    assert 0 < q.ssim < 0.95 and 0.01 < q.flip < 1


def test_metrics_refuse_bad_input_with_studio_error_not_exit(photo):
    for bad in (photo[:, :10], photo[..., :2], np.full_like(photo, np.nan)):
        for metric in (psnr, ssim, flip):
            with pytest.raises(StudioError):
                metric(photo, bad)
    assert math.isnan(ssim(photo[:2, :2], photo[:2, :2]))  # no SSIM window fits 2x2


def test_block_codecs_cost_exactly_4_and_8_bits_per_pixel(photo):
    rows = {r.codec: r for r in (codecs.measure_codec(photo, c, "4x4", with_flip=False) for c in ("bc1", "bc7"))}
    assert rows["bc1"].bits_per_pixel == 4.0
    assert rows["bc7"].bits_per_pixel == 8.0
    assert rows["bc7"].psnr > rows["bc1"].psnr > 25


@pytest.mark.parametrize("codec,setting", codecs.settings())
def test_each_codec_psnr_equals_numpy_on_its_decoded_image(photo, codec, setting):
    decoded = codecs.encode_decode(codec, setting, codecs.to_rgb8(photo))
    assert decoded.image.shape == photo.shape and decoded.image.dtype == np.uint8
    row = codecs.measure_codec(photo, codec, setting, decoded=decoded)
    assert row.codec == codec and row.setting == setting
    assert row.psnr == pytest.approx(numpy_psnr(photo, decoded.image / 255.0), abs=1e-6)
    assert row.bits_per_pixel == decoded.nbytes * 8 / (64 * 48)
    assert row.psnr > 20 and 0 < row.ssim <= 1 and 0 <= row.flip < 0.5


@pytest.mark.parametrize("codec,setting", [("bc1", "4x4"), ("bc7", "4x4"), ("astc", "6x6"), ("webp", "q=90")])
def test_decoded_channels_are_rgb(codec, setting):
    """A flat colour comes back as that colour (texture2ddecoder writes BGRA; a swap would show here)."""
    flat = np.zeros((8, 8, 3), np.uint8)
    flat[...] = (200, 40, 90)
    out = codecs.encode_decode(codec, setting, flat).image.astype(int)
    assert np.abs(out - (200, 40, 90)).max() <= 6


def test_sizes_that_are_not_block_multiples(photo):
    odd = photo[:22, :30]
    for codec, setting in codecs.settings():
        row = codecs.measure_codec(odd, codec, setting, with_flip=False)
        assert row.psnr > 18, row
    bc1 = codecs.measure_codec(odd, "bc1", "4x4", with_flip=False)
    assert bc1.bits_per_pixel == pytest.approx(8 * 6 * 8 * 8 / (30 * 22))  # 8 x 6 blocks of 8 bytes
    astc = codecs.measure_codec(odd, "astc", "12x12", with_flip=False)
    assert astc.bits_per_pixel == pytest.approx(3 * 2 * 16 * 8 / (30 * 22))  # 3 x 2 blocks of 16 bytes


def test_csv_header_and_rows(photo):
    rows = [codecs.Row("jpeg", "q=75", 1.5, 30.0, 0.9, 0.1, 0.01), codecs.Row("network", "a,b.ntsw", 2, math.inf,
                                                                              1.0, 0.0, 3.0)]
    text = codecs.rows_to_csv(rows)
    assert codecs.CSV_HEADER == "codec,setting,bits_per_pixel,psnr,ssim,flip,seconds"
    assert text.splitlines() == [codecs.CSV_HEADER, "jpeg,q=75,1.5,30,0.9,0.1,0.01", 'network,"a,b.ntsw",2,inf,1,0,3']


def test_codec_psnr_targets(photo):
    assert codecs.codec_psnr(photo, "bc7") == codecs.measure_codec(photo, "bc7", "4x4", with_flip=False).psnr
    with pytest.raises(StudioError, match="bc1 or bc7"):
        codecs.codec_psnr(photo, "astc")


def test_transformed_reference_matches_the_trainer(device):
    """The codecs' reference (numpy) is the image the network learns (the GPU's reference view)."""
    from app.trainer import Trainer
    rng = np.random.default_rng(3)
    image = rng.random((13, 21, 3)).astype(np.float32)
    preset = load_preset("tinn-frequency").with_training(batch_size=256)
    for transform in ("none", "flip", "zoom"):
        trainer = Trainer(device, image, preset.with_training(transform=transform))
        np.testing.assert_array_equal(trainer.reference(), transformed_reference(image, transform))
        if transform == "none":  # a smaller view (the window's metrics of large textures): subsample()'s texels
            for size in ((7, 5), (20, 4), (13, 21)):
                np.testing.assert_array_equal(trainer.reference(size), subsample(image, size))


def test_ssim_and_flip_of_large_textures_use_a_bounded_view():
    from app.quality import METRICS_MAX_PIXELS, metrics_size
    assert metrics_size((451, 300)) == (451, 300)
    assert metrics_size((1024, 1024)) == (1024, 1024)
    w, h = metrics_size((8192, 4096))
    assert w * h <= METRICS_MAX_PIXELS and abs(w / h - 2.0) < 0.01
