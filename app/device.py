"""Creating the slangpy Vulkan device and describing what it can do."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import StudioError

SHADER_DIR = Path(__file__).resolve().parent.parent / "shaders"

NO_VULKAN_HELP = ("no usable Vulkan driver found ({detail}); install your GPU's Vulkan driver, or on Debian/Ubuntu "
                  "the software one: apt-get install mesa-vulkan-drivers libvulkan1 (Debian 12: Mesa 25 from "
                  "bookworm-backports; scripts/setup.sh does this)")


@dataclass(frozen=True)
class DeviceInfo:
    adapter: str
    software: bool
    cooperative_vector: bool
    api: str = "Vulkan"

    @property
    def paths(self) -> list[str]:
        return ["portable", "coopvec"] if self.cooperative_vector else ["portable"]


def create_device():
    """A Vulkan device with the project's shader folder on the include path; StudioError if there is none."""
    try:
        import slangpy as spy
    except ImportError as err:  # pragma: no cover - setup installs it
        raise StudioError(f"slangpy is not installed ({err}); run scripts/setup.sh") from None
    logger = spy.Logger.get()
    level = logger.level
    logger.level = spy.LogLevel.fatal  # the driver's own error lines would precede our one-line message
    try:
        return spy.create_device(spy.DeviceType.vulkan, include_paths=[SHADER_DIR])
    except Exception as err:  # slangpy raises RuntimeError with a long driver log
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StudioError(NO_VULKAN_HELP.format(detail=first[:160])) from None
    finally:
        logger.level = level


def describe(device) -> DeviceInfo:
    import slangpy as spy
    return DeviceInfo(
        adapter=device.info.adapter_name,
        software=device.has_feature(spy.Feature.software_device) or "llvmpipe" in device.info.adapter_name,
        cooperative_vector=device.has_feature(spy.Feature.cooperative_vector),
    )


def choose_mlp_path(info: DeviceInfo, requested: str | None = None, coopvec_refusal: str | None = None) -> str:
    """The one place that picks the MLP implementation: CoopVec where the device has cooperative vectors
    and the network can use them (``coopvec_refusal`` is None), else portable. ``requested`` (the --mlp
    flag, or the NTS_MLP_PATH environment variable) overrides the automatic choice."""
    requested = requested or os.environ.get("NTS_MLP_PATH") or "auto"
    if requested not in ("auto", "portable", "coopvec"):
        raise StudioError(f"unknown MLP path {requested!r}; choose auto, portable or coopvec")
    if requested == "auto":
        return "coopvec" if info.cooperative_vector and coopvec_refusal is None else "portable"
    if requested == "coopvec":
        if not info.cooperative_vector:
            raise StudioError(f"the CoopVec path needs cooperative vectors, which {info.adapter} lacks; "
                              "use --mlp portable")
        if coopvec_refusal:
            raise StudioError(coopvec_refusal + "; use --mlp portable")
    return requested
