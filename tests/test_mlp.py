"""The fused training kernel and inference against the numpy reference."""
import numpy as np
import pytest

import reference as ref
from app.encodings import FrequencyEncoding, IdentityEncoding
from app.losses import LossConfig
from app.network import NetworkConfig
from app.optimizers import OptimizerConfig
from app.preset import Preset, TrainingConfig
from app.trainer import Trainer

# Few variants (each compiles its own kernels) that together cover every activation, both
# precisions, bias on/off, widths that are not multiples of 8 or 16, and both encodings.
CASES = {
    "relu-none-f32-w16": (FrequencyEncoding(2), NetworkConfig(16, 2, "relu", "none", bias=True)),
    "leaky-sigmoid-f32-w20-nobias": (FrequencyEncoding(3), NetworkConfig(20, 3, "leaky_relu", "sigmoid", 0.1, bias=False)),
    "tanh-exp-f32-w24": (IdentityEncoding(), NetworkConfig(24, 1, "tanh", "exp", bias=True)),
    "sigmoid-tanh-f32-w16": (FrequencyEncoding(1), NetworkConfig(16, 2, "sigmoid", "tanh", bias=True)),
    "exp-relu-f32-w16": (IdentityEncoding(), NetworkConfig(16, 1, "exp", "relu", bias=True)),
    "none-leaky-f32-w16": (FrequencyEncoding(2), NetworkConfig(16, 2, "none", "leaky_relu", 0.05, bias=True)),
    "leaky-sigmoid-f16-w20": (FrequencyEncoding(3), NetworkConfig(20, 2, "leaky_relu", "sigmoid", 0.01, precision="float16")),
    "silu-sine-f32-w16": (FrequencyEncoding(2), NetworkConfig(16, 2, "silu", "sine", bias=True)),
    "softplus-exp2-f32-w24": (FrequencyEncoding(1), NetworkConfig(24, 2, "softplus", "exp2", bias=False)),
    "sine-silu-f16-w16": (FrequencyEncoding(2), NetworkConfig(16, 1, "sine", "silu", precision="float16")),
}
BATCH = 200  # not a multiple of the workgroup: exercises the padded samples


def make_trainer(device, image, encoding, net, loss="l2", seed=7):
    preset = Preset(encoding=encoding, network=net, loss=LossConfig(loss),
                    training=TrainingConfig(batch_size=BATCH, seed=seed, loss_scale=256.0))
    return Trainer(device, image, preset)


def reference_gradients(trainer, image, loss):
    """Outputs and compact gradient of the mean loss over the batch the trainer draws next."""
    net, lay = trainer.network, trainer.layout
    params = trainer.parameters().astype(np.float64)
    if net.half:  # the GPU computes with the float16-rounded weights
        params = params.astype(np.float16).astype(np.float64)
    layers = lay.layers_of(params)
    uv = ref.random_uv(trainer.seed, trainer.step + 1, np.arange(BATCH))
    x = ref.encode_like(uv, trainer.encoding)
    y, cache = ref.forward(layers, x, net.activation, net.output_activation, net.leaky_relu_alpha)
    t = ref.fetch(image, ref.transform_uv(uv, trainer.transform))
    _, dl = ref.loss_and_grad(loss, y, t)
    grads = ref.backward(layers, cache, dl / (BATCH * 3), net.activation, net.output_activation, net.leaky_relu_alpha)
    flat = []
    for dw, db in grads:
        flat.append(dw.reshape(-1))
        if db is not None:
            flat.append(db)
    return y, np.concatenate(flat)


@pytest.mark.parametrize("case", list(CASES))
def test_forward_and_gradients_match_numpy(device, small_image, case):
    encoding, net = CASES[case]
    trainer = make_trainer(device, small_image, encoding, net)
    losses = ["l2", "l1", "relative_l2"] if case == "relu-none-f32-w16" else ["l2"]
    for loss in losses:
        trainer.loss = LossConfig(loss)
        gpu_grad = trainer.gradients()
        y_ref, g_ref = reference_gradients(trainer, small_image, loss)
        y_gpu = trainer.batch_outputs()
        if net.half:
            np.testing.assert_allclose(y_gpu, y_ref, rtol=2e-2, atol=5e-3)
            scale = np.abs(g_ref).max()
            np.testing.assert_allclose(gpu_grad, g_ref, rtol=0, atol=3e-2 * scale)
            assert np.corrcoef(gpu_grad, g_ref)[0, 1] > 0.999
        else:
            np.testing.assert_allclose(y_gpu, y_ref, rtol=1e-4, atol=1e-5)
            scale = np.abs(g_ref).max()
            np.testing.assert_allclose(gpu_grad, g_ref, rtol=1e-3, atol=1e-4 * scale)
        # a real gradient, not zeros: every layer's weights receive some
        assert np.count_nonzero(gpu_grad) > 0.5 * gpu_grad.size


@pytest.mark.parametrize("case", ["leaky-sigmoid-f32-w20-nobias", "leaky-sigmoid-f16-w20", "silu-sine-f32-w16"])
def test_inference_matches_numpy(device, small_image, case):
    encoding, net = CASES[case]
    trainer = make_trainer(device, small_image, encoding, net)
    trainer.train(3)
    params = trainer.parameters().astype(np.float64)
    if net.half:
        params = params.astype(np.float16).astype(np.float64)
    w, h = 10, 6
    ys, xs = np.mgrid[0:h, 0:w]
    uv = np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1)
    x = ref.encode_like(uv, encoding)
    y, _ = ref.forward(trainer.layout.layers_of(params), x, net.activation, net.output_activation, net.leaky_relu_alpha)
    image = trainer.prediction((w, h))
    tol = dict(rtol=2e-2, atol=5e-3) if net.half else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(image.reshape(-1, 3), y, **tol)


OPTIMIZER_CASES = [
    OptimizerConfig("adam", 1e-2, 0.9, 0.99, 1e-8),
    OptimizerConfig("adam", 1e-2, 0.9, 0.99, 1e-15, l2_reg=1e-2, decay_start=2, decay_interval=1, decay_base=0.5),
    OptimizerConfig("adamw", 1e-2, 0.8, 0.9, 1e-8, weight_decay=0.1),
    OptimizerConfig("sgd", 0.05),
    OptimizerConfig("sgd", 0.05, momentum=0.9, l2_reg=1e-2),
    OptimizerConfig("rmsprop", 1e-2, alpha=0.9),
    OptimizerConfig("rmsprop", 1e-2, alpha=0.99, epsilon=1e-6, momentum=0.8, l2_reg=1e-2, decay_start=2,
                    decay_interval=1, decay_base=0.5),
]


def test_optimizer_steps_match_numpy(device, small_image):
    encoding, net = CASES["relu-none-f32-w16"]
    trainer = make_trainer(device, small_image, encoding, net)
    for opt in OPTIMIZER_CASES:
        ref.assert_steps_match(trainer, opt, lambda w, g, state, step: ref.optimizer_step(opt, w, g, state, step))


MUON_CASES = [
    OptimizerConfig("muon", 0.02, momentum=0.95, adamw=OptimizerConfig("adamw", 1e-2, weight_decay=0.1)),
    OptimizerConfig("muon", 0.05, momentum=0.9, nesterov=False, ns_steps=3, weight_decay=0.1, l2_reg=1e-2,
                    decay_start=2, decay_interval=1, decay_base=0.5),
]


@pytest.mark.parametrize("case", ["relu-none-f32-w16", "leaky-sigmoid-f32-w20-nobias"])
def test_muon_steps_match_numpy(device, small_image, case):
    """Muon on the weight matrices (wide 16x16 and 3x16, a tall 20x12: transposed), AdamW on the biases."""
    encoding, net = CASES[case]
    trainer = make_trainer(device, small_image, encoding, net)
    for opt in MUON_CASES:
        # float32 on the GPU; Newton-Schulz amplifies rounding of small singular values (slope 3.4 at 0)
        ref.assert_steps_match(trainer, opt, lambda w, g, state, step: ref.muon_step(opt, trainer.layout, w, g, state,
                                                                                     step), rtol=1e-4, atol=2e-5)


def test_muon_skips_non_finite_steps_and_removes_the_loss_scale(device, small_image):
    """A step with non-finite gradients changes neither weights nor momentum; the next one is Muon's first
    step on the unscaled gradient (float16 network, loss scale 1024)."""
    encoding, net = CASES["leaky-sigmoid-f16-w20"]
    preset = Preset(encoding=encoding, network=net, optimizer=MUON_CASES[0],
                    training=TrainingConfig(batch_size=BATCH, loss_scale=1024.0))
    trainer = Trainer(device, small_image, preset)
    w0 = trainer.parameters().astype(np.float64)
    trainer.set_image(np.full((2, 2, 3), np.inf, np.float32))
    trainer.train(1)
    assert trainer.loss_scale_state() == (1024.0, 1)
    np.testing.assert_array_equal(trainer.parameters(), w0)
    assert not trainer.mlp.moment1.to_numpy().view(np.float32).any()  # no momentum from the skipped step
    trainer.set_image(small_image)
    g = trainer.gradients()
    trainer.train(1)
    zeros = np.zeros_like(w0)
    expected, _ = ref.muon_step(MUON_CASES[0], trainer.layout, w0, g, (zeros, zeros), 1)
    np.testing.assert_allclose(trainer.parameters(), expected, rtol=1e-4, atol=2e-5)


def test_every_optimizer_is_covered():
    from app.optimizers import OPTIMIZERS
    assert {o.otype for o in OPTIMIZER_CASES + MUON_CASES} == set(OPTIMIZERS.names())


def test_learning_rate_schedule():
    opt = OptimizerConfig("adam", 1.0, decay_start=10, decay_interval=5, decay_base=0.5)
    assert [opt.learning_rate_at(s) for s in (1, 10, 14, 15, 20, 25)] == [1.0, 1.0, 1.0, 0.5, 0.25, 0.125]


def test_float16_loss_scale_is_undone(device, small_image):
    encoding, net = CASES["leaky-sigmoid-f16-w20"]
    trainer = make_trainer(device, small_image, encoding, net)
    for scale in (1.0, 1024.0):
        trainer.loss_scale = scale
        g = trainer.gradients()
        _, g_ref = reference_gradients(trainer, small_image, "l2")
        assert abs(np.linalg.norm(g) / np.linalg.norm(g_ref) - 1) < 0.02


def test_every_activation_is_covered():
    from app.activations import ACTIVATIONS
    used = {n.activation for _, n in CASES.values()} | {n.output_activation for _, n in CASES.values()}
    assert used == set(ACTIVATIONS)


def test_loss_scaler_skips_and_halves_on_inf_then_grows(device, small_image):
    from dataclasses import replace
    encoding, net = CASES["leaky-sigmoid-f16-w20"]
    preset = Preset(encoding=encoding, network=net,
                    training=TrainingConfig(batch_size=BATCH, loss_scale=1024.0, dynamic_loss_scale=True,
                                            loss_scale_growth_interval=3))
    trainer = Trainer(device, small_image, preset)
    w0 = trainer.parameters()
    trainer.set_image(np.full((2, 2, 3), np.inf, np.float32))  # every gradient becomes inf
    trainer.train(1)
    assert trainer.loss_scale_state() == (512.0, 1)
    np.testing.assert_array_equal(trainer.parameters(), w0)  # the step was skipped
    trainer.set_image(small_image)
    g = trainer.gradients()
    trainer.train(1)
    opt = trainer.optimizer  # Adam's bias correction counts applied steps only: this is step 1
    expected, _, _ = ref.adam(w0.astype(np.float64), g, 0, 0, 1, opt.learning_rate, opt.beta1, opt.beta2, opt.epsilon)
    np.testing.assert_allclose(trainer.parameters(), expected, rtol=1e-4, atol=1e-6)
    trainer.train(1)
    assert trainer.loss_scale_state() == (512.0, 1)
    trainer.train(1)  # third consecutive finite step: the scale doubles
    assert trainer.loss_scale_state() == (1024.0, 1)
    # without dynamic scaling the scale stays, but non-finite steps are still skipped
    trainer.preset = replace(preset, training=replace(preset.training, dynamic_loss_scale=False))
    trainer.set_image(np.full((2, 2, 3), np.inf, np.float32))
    trainer.train(2)
    assert trainer.loss_scale_state() == (1024.0, 3)


def test_gpu_learning_rate_schedule_matches_numpy(device, small_image):
    """The step number and the decayed learning rate come from the GPU training state: SGD with a
    schedule over several steps against numpy, each step's gradient taken from the same batch."""
    encoding, net = CASES["relu-none-f32-w16"]
    trainer = make_trainer(device, small_image, encoding, net)
    trainer.optimizer = OptimizerConfig("sgd", 0.05, decay_start=1, decay_interval=2, decay_base=0.5)
    w = trainer.parameters().astype(np.float64)
    for step in range(1, 6):
        g = trainer.gradients()
        trainer.train(1)
        w = w - trainer.optimizer.learning_rate_at(step) * g
        np.testing.assert_allclose(trainer.parameters(), w, rtol=1e-5, atol=1e-6)
