"""Ids that Python and Slang share, emitted as preprocessor defines into every Slang session.

Each family's table is declared once, in the module that owns it (activations, losses, optimizers,
transforms) or here (the loss scaler's buffer words, which shaders/loss_scale.slang and the Trainer
read); ``shader_defines`` turns them into ``PREFIX_NAME`` defines (ACT_LEAKY_RELU, LOSS_L1, OPT_ADAMW,
TRANSFORM_FLIP, SCALER_FOUND, ...). No Slang file defines one by hand (tests/test_shader_ids.py).
"""
from __future__ import annotations

# uint words of the loss scaler's GPU buffer (shaders/loss_scale.slang)
SCALER_WORDS = {
    "scale": 0,    # float bits: current loss scale
    "clean": 1,    # consecutive finite steps since the last change
    "skipped": 2,  # steps skipped so far (they do not count as Adam steps)
    "found": 3,    # nonzero when the current step's gradients are not finite
}


def id_tables() -> dict[str, dict[str, int]]:
    """Define prefix -> {name: id} for every family whose ids the shaders switch on."""
    from .activations import ACTIVATIONS
    from .losses import LOSS_IDS
    from .optimizers import OPTIMIZER_IDS
    from .texture import TRANSFORMS
    return {"ACT": ACTIVATIONS, "LOSS": LOSS_IDS, "OPT": OPTIMIZER_IDS, "TRANSFORM": TRANSFORMS,
            "SCALER": SCALER_WORDS}


def shader_defines() -> dict[str, str]:
    return {f"{prefix}_{name.upper()}": str(value) for prefix, table in id_tables().items()
            for name, value in table.items()}
