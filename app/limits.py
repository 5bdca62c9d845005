"""What the device can allocate and dispatch, checked before any buffer is created.

A request past a device limit used to end in a ``SLANG_FAIL`` traceback at buffer creation (or, worse, a
binding the driver silently cuts short). ``check_request`` computes, from the preset alone, the sizes
the MLP paths will allocate (the same formulas as app/mlp_portable.py, app/mlp_coopvec.py and
app/encoding_state.py) and refuses what exceeds the device's limits, naming the limit and what to change.

slangpy reports texture and dispatch limits; the buffer limits (Vulkan's maxTexelBufferElements for the
typed buffers, maxStorageBufferRange for the structured ones) come from vkGetPhysicalDeviceProperties
on the device's own VkPhysicalDevice. Where they cannot be read, only slangpy's limits are checked.
"""
from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from .errors import StudioError

GROUP = 64                # threads per workgroup of the training and inference passes
SOFTWARE_PARTITIONS = 2   # as PortableMLP.set_batch_size: gradient partitions on a CPU device ...
GPU_PARTITIONS = 64       # ... and at most this many on a GPU
# VkPhysicalDeviceProperties: 5 x u32, char[256] name, u8[16] UUID, then VkPhysicalDeviceLimits (8-aligned):
# maxImageDimension1D/2D/3D/Cube, maxImageArrayLayers, maxTexelBufferElements, maxUniformBufferRange,
# maxStorageBufferRange.
_LIMITS_OFFSET = 296
_PROPERTIES_BYTES = 1024  # the struct is 824 bytes


@dataclass(frozen=True)
class DeviceLimits:
    adapter: str
    texture_side: int                # largest 2D texture side
    dispatch_groups: int             # workgroups per dispatch along x
    texel_elements: int | None       # elements of a typed buffer (Buffer<float4>, Buffer<float>)
    storage_bytes: int | None        # bytes of a structured buffer binding
    software: bool = False


def device_limits(device) -> DeviceLimits:
    from .device import describe
    limits = device.info.limits
    texel, storage = _vulkan_buffer_limits(device)
    return DeviceLimits(adapter=device.info.adapter_name, texture_side=int(limits.max_texture_dimension_2d),
                        dispatch_groups=int(limits.max_compute_dispatch_thread_groups[0]),
                        texel_elements=texel, storage_bytes=storage, software=describe(device).software)


def _vulkan_buffer_limits(device) -> tuple[int | None, int | None]:
    handles = [h.value for h in device.native_handles if str(h.type).endswith("VkPhysicalDevice")]
    if not handles:
        return None, None
    for name in ("libvulkan.so.1", "libvulkan.so", "vulkan-1.dll", "libvulkan.1.dylib"):
        try:
            vk = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None, None
    props = ctypes.create_string_buffer(_PROPERTIES_BYTES)
    get = vk.vkGetPhysicalDeviceProperties
    get.argtypes, get.restype = [ctypes.c_void_p, ctypes.c_void_p], None
    get(ctypes.c_void_p(handles[0]), props)
    texel, _, storage = struct.unpack_from("<3I", props.raw, _LIMITS_OFFSET + 20)
    return texel or None, storage or None


def _stride(batch: int, samples_per_thread: int) -> int:
    group = GROUP * samples_per_thread
    return (batch + group - 1) // group * group


def check_request(limits: DeviceLimits, preset, mlp_path: str, *, texture: tuple[int, int] | None = None,
                  views: tuple[tuple[int, int], ...] = ()) -> None:
    """StudioError when training ``preset`` on the ``mlp_path`` MLP with a ``texture`` (width, height) and
    rendering ``views`` would exceed a device limit."""
    from .kernels import SAMPLES_PER_THREAD
    from .mlp_portable import INFER_CHUNK
    from .network import Layout
    where = f"{limits.adapter}"
    batch = preset.training.batch_size
    layout = Layout.of(preset.encoding.output_dims, preset.network)
    for what, size in [("the texture", texture)] + [("a view", v) for v in views]:
        if size is not None and max(size) > limits.texture_side:
            raise StudioError(f"{what} is {size[0]}x{size[1]}; {where} allows {limits.texture_side} pixels per side: "
                              f"use --size (or a smaller view resolution) of at most {limits.texture_side}")
    if mlp_path == "portable":
        spt = SAMPLES_PER_THREAD
        corners = preset.network.corners  # a blended network array keeps records of four networks per sample
        if limits.texel_elements is not None:
            per_sample = layout.record_slots * corners
            need = per_sample * _stride(batch, spt)
            if need > limits.texel_elements:
                largest = limits.texel_elements // per_sample // (GROUP * spt) * (GROUP * spt)
                raise StudioError(f"batch {batch} needs {need:,} per-sample records ({per_sample} float4 per sample for "
                                  f"this network); {where} allows {limits.texel_elements:,} in one buffer: use a "
                                  f"batch of at most {largest:,} (--batch or training.batch_size) or a smaller network")
            if layout.record_slots * INFER_CHUNK > limits.texel_elements:
                raise StudioError(f"inference needs {layout.record_slots * INFER_CHUNK:,} records at once; {where} "
                                  f"allows {limits.texel_elements:,} in one buffer: use a smaller network")
        if _stride(batch, spt) // spt // GROUP > limits.dispatch_groups:
            largest = limits.dispatch_groups * GROUP * spt
            raise StudioError(f"batch {batch} needs more workgroups than {where} dispatches at once "
                              f"({limits.dispatch_groups}): use a batch of at most {largest:,}")
        # the weights of every tile of a network array in one buffer of each kind
        if limits.texel_elements is not None and layout.wf_float4s > limits.texel_elements or \
                limits.storage_bytes is not None and layout.padded_floats * 4 > limits.storage_bytes:
            raise StudioError(f"this network's weights take {layout.padded_floats * 4:,} bytes ({layout.tiles:,} "
                              f"networks); {where} allows {limits.storage_bytes or 0:,} bytes and "
                              f"{limits.texel_elements or 0:,} float4 in one buffer: use fewer tiles or a narrower network")
        if limits.storage_bytes is not None:
            partitions = SOFTWARE_PARTITIONS if limits.software else GPU_PARTITIONS
            if layout.tiles > 1:  # one partition per workgroup and corner (app/mlp_portable.py)
                partitions = corners * _stride(batch, spt) // (GROUP * spt)
            need = partitions * 8 * layout.tile_padded_floats * 4
            if need > limits.storage_bytes:
                raise StudioError(f"the gradient partials of this network take {need:,} bytes; {where} binds at most "
                                  f"{limits.storage_bytes:,}: use fewer or narrower hidden layers"
                                  + (" or a smaller batch" if layout.tiles > 1 else ""))
    else:
        if (batch + GROUP - 1) // GROUP > limits.dispatch_groups:
            raise StudioError(f"batch {batch} needs more workgroups than {where} dispatches at once "
                              f"({limits.dispatch_groups}): use a batch of at most {limits.dispatch_groups * GROUP:,}")
        for size in views + ((texture,) if texture else ()):
            if (size[0] * size[1] + GROUP - 1) // GROUP > limits.dispatch_groups:
                raise StudioError(f"rendering {size[0]}x{size[1]} on the CoopVec path needs more workgroups than "
                                  f"{where} dispatches at once ({limits.dispatch_groups}): render at most "
                                  f"{limits.dispatch_groups * GROUP:,} pixels, or use --mlp portable")
    table = preset.encoding.parameter_count
    if table:
        if limits.texel_elements is not None and table > limits.texel_elements or \
                limits.storage_bytes is not None and table * 4 > limits.storage_bytes:
            allowed = min(v for v in (limits.texel_elements, (limits.storage_bytes or 0) // 4 or None) if v)
            raise StudioError(f"the {preset.encoding.otype} encoding's table has {table:,} parameters; {where} allows "
                              f"{allowed:,} in one buffer: lower encoding.log2_hashmap_size, n_levels or "
                              "n_features_per_level")


def check_device_request(device, preset, mlp_request: str | None = None, *, texture: tuple[int, int] | None = None,
                         views: tuple[tuple[int, int], ...] = ()) -> None:
    """``check_request`` on ``device`` for the MLP path the Trainer will choose (app/device.py)."""
    from .device import choose_mlp_path, describe
    from .mlp_coopvec import coopvec_supports
    path = choose_mlp_path(describe(device), mlp_request,
                           coopvec_supports(preset.network, preset.encoding, preset.optimizer))
    check_request(device_limits(device), preset, path, texture=texture, views=views)
