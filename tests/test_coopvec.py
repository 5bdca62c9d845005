"""The CoopVec MLP path: compiles everywhere, its optimizer runs everywhere, and where the device has
cooperative vectors its results equal the portable path's."""
import numpy as np
import pytest

import reference as ref
from app.device import DeviceInfo, choose_mlp_path, describe
from app.errors import StudioError
from app.kernels import network_defines, slang_session
from app.mlp_coopvec import coopvec_supports
from app.network import Layout, NetworkConfig
from app.optimizers import OptimizerConfig
from app.preset import load_preset
from app.trainer import Trainer


def rtxns_session(device):
    """A Slang session for the rtxns-simple-training network's shader variant."""
    preset = load_preset("rtxns-simple-training")
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    return slang_session(device, network_defines(preset.encoding, preset.network, layout, 1))


def compile_pipeline(device, module, entry):
    program = rtxns_session(device).load_program(module, [entry])  # Slang front end and linking: raises on any error
    return device.create_compute_pipeline(program)   # code generation to SPIR-V, then the driver


@pytest.mark.parametrize("entry", ["train_coopvec", "infer_coopvec"])
def test_coopvec_kernels_compile_to_spirv(device, entry):
    if describe(device).cooperative_vector:
        compile_pipeline(device, "train_coopvec", entry)
        return
    # Without the feature the driver refuses the finished SPIR-V (VK_ERROR_FEATURE_NOT_PRESENT, -13);
    # any Slang or code-generation error would surface as a different message before that.
    with pytest.raises(RuntimeError, match=r"createComputePipeline.*error: -13"):
        compile_pipeline(device, "train_coopvec", entry)


@pytest.mark.parametrize("config", [OptimizerConfig("adam", 0.01, 0.9, 0.99, 1e-8),
                                    OptimizerConfig("sgd", 0.05, momentum=0.9, l2_reg=0.01),
                                    OptimizerConfig("rmsprop", 0.01, alpha=0.9, momentum=0.5, l2_reg=0.01)])
def test_flat_optimizer_matches_numpy(device, config):
    """optimizer_flat (the CoopVec path's optimizer) needs no cooperative vectors, so it is checked here:
    every element steps (zero gradients included: momentum and L2 keep moving a weight), float16 stores
    round to nearest, and consumed gradients are cleared."""
    import slangpy as spy
    from app.train_state import SCALE, STEP, WORDS
    opt_kernel = device.create_compute_kernel(rtxns_session(device).load_program("optimizer_flat", ["optimizer_flat"]))
    rng = np.random.default_rng(0)
    n = 64
    w = rng.normal(size=n).astype(np.float16).astype(np.float32)
    usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access
    params = device.create_buffer(size=n * 2, usage=usage, data=w.astype(np.float16).view(np.uint8))
    grads = device.create_buffer(size=n * 2, usage=usage)
    master = device.create_buffer(element_count=n, struct_size=4, usage=usage, data=w)
    m1 = device.create_buffer(element_count=n, struct_size=4, usage=usage, data=np.zeros(n, np.float32))
    m2 = device.create_buffer(element_count=n, struct_size=4, usage=usage, data=np.zeros(n, np.float32))
    scale = 512.0
    state = device.create_buffer(element_count=2 * WORDS, struct_size=4, usage=usage)
    wr, m, v = w.astype(np.float64), np.zeros(n), np.zeros(n)
    for step in range(1, 5):
        words = np.zeros(2 * WORDS, np.uint32)  # the state the step's training pass would have written
        words[(step % 2) * WORDS + SCALE] = np.float32(scale).view(np.uint32)
        words[(step % 2) * WORDS + STEP] = step
        state.copy_from_numpy(words)
        g = rng.normal(size=n).astype(np.float16)
        g[:4] = 0  # zero gradients still step (momentum, L2)
        grads.copy_from_numpy((g * np.float16(scale)).view(np.uint8))
        opt_kernel.dispatch(thread_count=[n, 1, 1], params=params, grads=grads, master=master, moment1=m1,
                            moment2=m2, count=n, state=state, parity=step % 2, opt=config.shader_params())
        gg = g.astype(np.float64)
        wr, (m, v) = ref.optimizer_step(config, wr, gg, (m, v), step)
        np.testing.assert_allclose(master.to_numpy().view(np.float32), wr, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(params.to_numpy().view(np.float16),
                                      master.to_numpy().view(np.float32).astype(np.float16))
        assert not grads.to_numpy().view(np.float16).any()  # consumed gradients are cleared
    if config.l2_reg:  # weights whose gradient was always zero moved through L2 and momentum
        assert (master.to_numpy().view(np.float32)[:4] != w[:4]).all()


def test_path_choice():
    gpu = DeviceInfo("NVIDIA H100", software=False, cooperative_vector=True)
    cpu = DeviceInfo("llvmpipe", software=True, cooperative_vector=False)
    assert choose_mlp_path(gpu, "auto") == "coopvec"
    assert choose_mlp_path(cpu, "auto") == "portable"
    assert choose_mlp_path(gpu, "portable") == "portable"
    f32 = coopvec_supports(NetworkConfig(64, 2, precision="float32"))
    assert "float16 networks only" in f32
    assert choose_mlp_path(gpu, "auto", f32) == "portable"
    assert "multiple of 8" in coopvec_supports(NetworkConfig(20, 2, precision="float16"))
    with pytest.raises(StudioError, match="llvmpipe lacks"):
        choose_mlp_path(cpu, "coopvec")
    with pytest.raises(StudioError, match="float16 networks only"):
        choose_mlp_path(gpu, "coopvec", f32)
    muon = coopvec_supports(NetworkConfig(64, 2, precision="float16"), None, OptimizerConfig("muon"))
    assert "does not run Muon" in muon  # Muon needs each layer's matrix; CoopVec keeps a device layout
    assert choose_mlp_path(gpu, "auto", muon) == "portable"
    with pytest.raises(StudioError, match="does not run Muon"):
        choose_mlp_path(gpu, "coopvec", muon)
    with pytest.raises(StudioError, match="unknown MLP path"):
        choose_mlp_path(gpu, "tensor")


def test_coopvec_equals_portable(device, small_image):
    if not describe(device).cooperative_vector:
        pytest.skip(f"{describe(device).adapter} has no cooperative vectors (run on an NVIDIA GPU to check)")
    preset = load_preset("rtxns-simple-training").with_training(batch_size=256)
    portable = Trainer(device, small_image, preset, mlp_path="portable")
    coop = Trainer(device, small_image, preset, mlp_path="coopvec")
    np.testing.assert_allclose(coop.parameters(), portable.parameters().astype(np.float16), rtol=0, atol=1e-7)
    np.testing.assert_allclose(coop.prediction(), portable.prediction(), atol=1e-2)
    g_p, g_c = portable.gradients(), coop.gradients()
    assert np.corrcoef(g_p, g_c)[0, 1] > 0.99
    portable.train(50)
    coop.train(50)
    assert abs(coop.psnr() - portable.psnr()) < 1.0
