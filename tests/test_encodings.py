"""Encodings, random UVs and transforms against numpy."""
import numpy as np
import pytest

import reference as ref
from app.encodings import (ENCODINGS, FrequencyEncoding, IdentityEncoding, OneBlobEncoding, SinEncoding,
                           TriangleWaveEncoding, TriEncoding, encoding_from_config)
from app.errors import StudioError
from app.network import NetworkConfig
from app.preset import Preset, TrainingConfig
from app.trainer import Trainer

NET = NetworkConfig(16, 1, "relu", "none")


# One instance of every registered encoding (the last test checks none is missing).
ENCODING_CASES = [FrequencyEncoding(3), IdentityEncoding(), SinEncoding(10, 0.2), TriEncoding(16, 0.2),
                  TriangleWaveEncoding(6), OneBlobEncoding(16)]


@pytest.mark.parametrize("encoding", ENCODING_CASES, ids=[e.otype for e in ENCODING_CASES])
def test_encoding_of_the_drawn_batch_matches_numpy(device, small_image, encoding):
    trainer = Trainer(device, small_image, Preset(encoding=encoding, network=NET,
                                                  training=TrainingConfig(batch_size=100, seed=3)))
    trainer.gradients()  # runs the forward pass of step 1
    uv = ref.random_uv(3, 1, np.arange(100))
    expected = ref.encode_like(uv, encoding)
    # float32 on the GPU: t = 2^e*x + shift carries an absolute rounding error of about ulp(t) = 2^(e-23),
    # times the feature's slope (at most 2*pi or 4)
    e = max(getattr(encoding, "octaves", 1), getattr(encoding, "n_frequencies", 1)) - 1
    np.testing.assert_allclose(trainer.batch_inputs(), expected, atol=2e-6 + 16 * 2.0 ** (e - 23))
    # the GPU's random UVs are uniform on [0,1)^2 and differ per step
    assert 0.0 <= uv.min() and uv.max() < 1.0
    assert not np.allclose(ref.random_uv(3, 2, np.arange(100)), uv)


def test_rtxns_frequency_layout():
    # per input: sin(pi x), cos(pi x), sin(2 pi x), cos(2 pi x), sin(4 pi x), cos(4 pi x)
    uv = np.array([[0.25, 0.5]])
    e = ref.encode(uv, "frequency", 3)[0]
    x = 0.25
    np.testing.assert_allclose(e[:6], [np.sin(np.pi * x), np.cos(np.pi * x), np.sin(2 * np.pi * x),
                                       np.cos(2 * np.pi * x), np.sin(4 * np.pi * x), np.cos(4 * np.pi * x)])
    assert FrequencyEncoding(3).output_dims == 12


@pytest.mark.parametrize("transform", ["none", "flip", "zoom"])
def test_transforms_map_uvs_as_specified(device, transform):
    rng = np.random.default_rng(0)
    image = rng.random((12, 20, 3)).astype(np.float32)
    trainer = Trainer(device, image, Preset(encoding=IdentityEncoding(), network=NET,
                                            training=TrainingConfig(batch_size=64, transform=transform)))
    w, h = 20, 12
    ys, xs = np.mgrid[0:h, 0:w]
    uv = np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1)
    expected = ref.fetch(image, ref.transform_uv(uv, transform)).reshape(h, w, 3)
    np.testing.assert_array_equal(trainer.reference((w, h)), expected.astype(np.float32))
    if transform == "zoom":  # the centre half of the texture fills the view
        np.testing.assert_array_equal(trainer.reference((w, h))[0, 0], image[3, 5])


def test_unknown_encoding_and_bad_parameters_are_rejected():
    with pytest.raises(StudioError, match="unknown encoding 'fourier'"):
        encoding_from_config({"otype": "fourier"})
    with pytest.raises(StudioError, match=r"n_frequencies = 40 is out of range"):
        encoding_from_config({"otype": "frequency", "n_frequencies": 40})
    with pytest.raises(StudioError, match="unknown key"):
        encoding_from_config({"otype": "Frequency", "n_freq": 2})


def test_every_encoding_is_covered():
    # encodings with parameters are checked in their own test file (test_table_encodings.py)
    trainable = {"hash_grid", "permuto"}
    assert {e.otype for e in ENCODING_CASES} | trainable == set(ENCODINGS.names())


def test_one_blob_bins_sum_to_one_and_must_be_a_power_of_two():
    uv = np.random.default_rng(0).random((50, 2))
    blob = ref.encode(uv, "one_blob", n_bins=16)
    np.testing.assert_allclose(blob[:, :16].sum(1), 1.0, atol=1e-9)
    with pytest.raises(StudioError, match="n_bins must be a power of two, not 12"):
        encoding_from_config({"otype": "OneBlob", "n_bins": 12})
