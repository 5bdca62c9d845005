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
    for warm in (False, True):  # a warm-up step (pipeline compiles) leaves no trace
        trainer = Trainer(device, image, small_rtxns(), seed=42)
        if warm:
            trainer.warm_up()
            assert trainer.step == 0
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


def test_bound_passes_equal_marshalled_dispatches_bit_for_bit(device, image):
    """The fast recording path (passes bound once, step and loss scale on the GPU) against slangpy's
    per-call marshalling of the same passes: a float32 run with a learning-rate schedule and a live
    change of loss and learning rate midway gives identical weights."""
    from dataclasses import replace
    preset = small_rtxns()
    preset = replace(preset, network=replace(preset.network, precision="float32"),
                     optimizer=replace(preset.optimizer, decay_start=3, decay_interval=2, decay_base=0.7))
    runs = []
    for marshalled in (False, True):
        trainer = Trainer(device, image, preset, seed=5)
        for chunk in range(3):
            if chunk == 2:
                trainer.loss = replace(trainer.loss, otype="l1")
                trainer.optimizer = replace(trainer.optimizer, learning_rate=0.002)
            enc = device.create_command_encoder()
            trainer.append_steps(enc, 4, marshalled=marshalled)
            device.submit_command_buffer(enc.finish())
        device.wait_for_idle()
        runs.append(trainer.parameters())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_small_batches_train_one_sample_per_thread_with_identical_results(device, image, monkeypatch):
    """A batch up to kernels.SMALL_BATCH trains with the one-sample-per-thread pass (a stride of 128 records
    for a batch of 100); with four samples per thread (a 256-record stride, 156 padding samples) a float32
    run gives identical weights."""
    from dataclasses import replace
    import app.kernels as kernels
    preset = small_rtxns().with_training(batch_size=100)
    preset = replace(preset, network=replace(preset.network, precision="float32"))
    runs = []
    for small_batch in (kernels.SMALL_BATCH, 0):
        monkeypatch.setattr(kernels, "SMALL_BATCH", small_batch)
        trainer = Trainer(device, image, preset, seed=3)
        trainer.train(4)
        runs.append((trainer.parameters(), trainer.mlp.records.size))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] * 2 == runs[1][1]  # the small pass really ran with its 128-record stride


def test_large_images_upload_in_bands_and_evaluate_in_tiles(device, image, monkeypatch):
    """The target is uploaded in bands of rows and full-resolution results come from tiles: both give
    exactly what one piece would (a 37 x 53 image in 5-row bands and 16-pixel tiles)."""
    import app.trainer as trainer_module
    import app.views as views_module
    rng = np.random.default_rng(1)
    odd = rng.random((37, 53, 3)).astype(np.float32)
    trainer = Trainer(device, odd, small_rtxns())
    whole = trainer.evaluate(images=("prediction",))
    monkeypatch.setattr(trainer_module, "UPLOAD_BAND_TEXELS", 53 * 5)
    monkeypatch.setattr(views_module, "TILE", 16)
    banded = Trainer(device, odd, small_rtxns())
    np.testing.assert_array_equal(banded.target.to_numpy()[:, :, :3], odd)
    np.testing.assert_array_equal(banded.reference(), odd)
    psnr, views = banded.evaluate(images=("prediction",))
    np.testing.assert_array_equal(views["prediction"], whole[1]["prediction"])
    assert abs(psnr - whole[0]) < 1e-6
    from app.texture import to_8bit  # previews convert tile by tile to what the file stores
    np.testing.assert_array_equal(banded.prediction(eight_bit=True), to_8bit(whole[1]["prediction"]))


def test_view_readback_equals_the_views(device, image):
    """The window reads a render's views from host-visible copies made in the same submission (so work
    queued behind it need not finish first): they equal the textures, at a width whose rows need padding."""
    from app.views import IMAGES, ViewReadback
    trainer = Trainer(device, image, small_rtxns())
    size = (19, 11)
    enc = device.create_command_encoder()
    views = trainer.append_render(enc, size)
    readback = ViewReadback(device, enc, views, size)
    device.submit_command_buffer(enc.finish())
    device.wait_for_idle()
    images, rows = readback.read()
    for name in IMAGES:
        np.testing.assert_array_equal(images[name], views[name].to_numpy()[:, :, :3])
    np.testing.assert_array_equal(rows, views["row_sums"].to_numpy().view(np.float32)[:size[1]])


def test_the_benchs_inference_alone_is_the_prediction(device, image):
    """The bench times inference by recording it alone (Views.append_prediction): the same image as the
    full render's prediction."""
    trainer = Trainer(device, image, small_rtxns())
    trainer.train(5)
    enc = device.create_command_encoder()
    output = trainer.views.append_prediction(enc, trainer)
    device.submit_command_buffer(enc.finish())
    device.wait_for_idle()
    alone = output.to_numpy()[:, :, :3].copy()
    np.testing.assert_array_equal(alone, trainer.prediction())
