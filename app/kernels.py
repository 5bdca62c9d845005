"""Compiling the shader variants: one per (encoding, network shape, precision, MLP path).

Shape and activation are compile-time defines so loops have constant bounds; everything that the UI
changes live (learning rate, loss, optimizer, batch size, transform) is a runtime uniform instead.
Compiled variants are cached per device, so switching back to an architecture costs nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from .activations import activation_id
from .device import SHADER_DIR
from .encoding_state import TABLE_GRADIENT_BITS, TABLE_GRADIENT_FIRST
from .encodings import Encoding
from .errors import StudioError
from .network import Layout, NetworkConfig
from .shader_ids import shader_defines

# Samples per thread of the portable MLP: each broadcast weight is reused this many times.
SAMPLES_PER_THREAD = 4
# Batches up to this size train with one sample per thread in workgroups of 32 (small_batch_kernels): with
# 4 per thread in 64, a batch of 64 computed a whole 256-sample workgroup on one core. lavapipe, rtxns
# network, ms per step (training pass, whole step): batch 64 0.89, 2.0 (four per thread); 0.40, 1.0 (one,
# workgroups of 64); 0.25-0.43, 0.88-1.06 (one, workgroups of 32: two cores). Batch 256 about equal.
SMALL_BATCH = 128
# Outputs x inputs per weight-gradient task (4 or 8 each): DW_ROWS x DW_COLS sums per lane. On lavapipe
# 8 x 8 costs least although its 64 sums spill (ms-CPU per 16k-sample step, rtxns network, medians of 4
# alternating runs on a loaded 2-core machine): 8x8 110, 8x4 122, 4x8 135, 4x4 175.
DW_ROWS = 8
DW_COLS = 8

_cache: dict[tuple, object] = {}

# Defines added to every network kernel's: empty, except while app/bench_passes.py builds one Trainer per
# variant of a define (the kernel cache is keyed by the defines, so one process then holds both variants).
EXTRA_DEFINES: dict[str, str] = {}


def network_defines(encoding: Encoding, net: NetworkConfig, layout: Layout, spt: int,
                    group_threads: int = 64) -> dict[str, str]:
    return {
        "NTS_ENCODING": f'"{encoding.slang_file}"',
        "NTS_LAYERS": str(layout.layers),
        "NTS_HIDDEN": str(layout.hidden_padded),
        "NTS_HIDDEN_REAL": str(layout.hidden),
        "NTS_IN_CHUNKS": str(layout.in0_chunks),
        "NTS_HIDDEN_ACT": str(activation_id(net.activation)),
        "NTS_OUTPUT_ACT": str(activation_id(net.output_activation)),
        "NTS_HALF": "1" if net.half else "0",
        "NTS_BIAS": "1" if net.bias else "0",
        "NTS_STORE_Z": "1" if layout.store_preactivation else "0",
        "NTS_SPT": str(spt),
        "NTS_GROUP_THREADS": str(group_threads),
        "NTS_DW_ROWS": str(DW_ROWS),
        "NTS_DW_COLS": str(DW_COLS),
        "NTS_TILES_X": str(net.tile_grid[0]),  # network arrays (shaders/tiles.slang); 1 x 1: one network
        "NTS_TILES_Y": str(net.tile_grid[1]),
        "NTS_BLEND": "1" if net.corners == 4 else "0",
        "NTS_LOCAL_UV": "1" if net.is_array and net.local_uv else "0",
        "NTS_TABLE_GRAD_BITS": str(TABLE_GRADIENT_BITS),
        "NTS_TABLE_GRAD_FIRST": str(TABLE_GRADIENT_FIRST),
        **encoding.defines(),
        **EXTRA_DEFINES,
    }


@dataclass
class NetworkKernels:
    train: object
    weight_gradients: object
    optimizer: object
    publish: object
    infer: object
    samples_per_thread: int
    group_threads: int = 64


@dataclass
class ViewKernels:
    """Passes of the views that do not depend on the network (shaders/views.slang)."""
    reference: object
    loss_visualization: object
    squared_error_rows: object


def _compile(device, session, module: str, entry: str):
    try:
        return device.create_compute_kernel(session.load_program(module, [entry]))
    except Exception as err:  # a shader bug, not a user error: keep the compiler's first lines
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        raise StudioError(f"shader {module}.{entry} failed to compile: {' | '.join(lines[:4])[:600]}") from err


def slang_session(device, defines: dict[str, str]):
    """A Slang session that finds the project's shaders, with one variant's defines."""
    return device.create_slang_session(compiler_options={"include_paths": [str(SHADER_DIR)],
                                                         "defines": {**shader_defines(), **defines}})


def _kernels(device, family: str, defines: dict[str, str], cls, entries: dict[str, tuple[str, str]], **extra):
    """``cls`` with each field compiled from (module, entry point), in one Slang session per define set;
    cached per device (keyed by the device itself, not its id: a device created later at a dead one's
    address must not find the dead one's kernels)."""
    key = (device, family, tuple(sorted(defines.items())))
    if key not in _cache:
        session = slang_session(device, defines)
        _cache[key] = cls(**{field: _compile(device, session, *where) for field, where in entries.items()}, **extra)
    return _cache[key]


def network_kernels(device, encoding: Encoding, net: NetworkConfig, layout: Layout) -> NetworkKernels:
    spt = SAMPLES_PER_THREAD
    return _kernels(device, "network", network_defines(encoding, net, layout, spt), NetworkKernels, {
        "train": ("train", "train_forward_backward"),
        "weight_gradients": ("train", "weight_gradients"),
        "optimizer": ("optimizer_step", "optimizer_step"),
        "publish": ("optimizer_step", "publish_weights"),
        "infer": ("inference", "infer_pixels"),
    }, samples_per_thread=spt)


@dataclass
class SmallBatchKernels:
    train: object
    samples_per_thread: int
    group_threads: int


def small_batch_kernels(device, encoding: Encoding, net: NetworkConfig, layout: Layout) -> SmallBatchKernels:
    """The training pass with one sample per thread in workgroups of 32, for batches up to SMALL_BATCH
    (compiled when one trains)."""
    return _kernels(device, "small-batch", network_defines(encoding, net, layout, 1, 32), SmallBatchKernels,
                    {"train": ("train", "train_forward_backward")}, samples_per_thread=1, group_threads=32)


@dataclass
class MuonKernels:
    step: object


def muon_kernels(device, encoding: Encoding, net: NetworkConfig, layout: Layout) -> MuonKernels:
    """Muon's matrix pass (muon.slang), compiled only when a network trains with Muon."""
    return _kernels(device, "muon", network_defines(encoding, net, layout, SAMPLES_PER_THREAD), MuonKernels,
                    {"step": ("muon", "muon_step")})


def view_kernels(device) -> ViewKernels:
    return _kernels(device, "views", {}, ViewKernels, {
        "reference": ("views", "reference_image"),
        "loss_visualization": ("views", "loss_visualization"),
        "squared_error_rows": ("views", "squared_error_rows"),
    })


@dataclass
class CoopVecKernels:
    train: object
    infer: object
    check_gradients: object
    optimizer: object


def coopvec_kernels(device, encoding: Encoding, net: NetworkConfig, layout: Layout) -> CoopVecKernels:
    """Kernels of the cooperative-vector MLP path; only devices with Feature.cooperative_vector run them."""
    return _kernels(device, "coopvec", network_defines(encoding, net, layout, 1), CoopVecKernels, {
        "train": ("train_coopvec", "train_coopvec"),
        "infer": ("train_coopvec", "infer_coopvec"),
        "check_gradients": ("optimizer_flat", "check_flat_gradients"),
        "optimizer": ("optimizer_flat", "optimizer_flat"),
    })
