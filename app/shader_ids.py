"""Ids that Python and Slang share, emitted as preprocessor defines into every Slang session.

Each family's table is declared once, in the module that owns it (activations, losses, optimizers,
samplings, transforms, the training state's words); ``shader_defines`` turns them into ``PREFIX_NAME`` defines (ACT_LEAKY_RELU, LOSS_L1,
OPT_ADAMW, SAMPLING_STRATIFIED, TRANSFORM_FLIP, ...). No Slang file defines one by hand (tests/test_shader_ids.py).
"""
from __future__ import annotations


def id_tables() -> dict[str, dict[str, int]]:
    """Define prefix -> {name: id} for every family whose ids the shaders switch on."""
    from .activations import ACTIVATIONS
    from .losses import LOSS_IDS
    from .optimizers import OPTIMIZER_IDS
    from .sampling import SAMPLINGS
    from .texture import TRANSFORMS
    from .train_state import LAYOUT
    return {"ACT": ACTIVATIONS, "LOSS": LOSS_IDS, "OPT": OPTIMIZER_IDS, "SAMPLING": SAMPLINGS, "TRANSFORM": TRANSFORMS, "STATE": LAYOUT}


def shader_defines() -> dict[str, str]:
    return {f"{prefix}_{name.upper()}": str(value) for prefix, table in id_tables().items()
            for name, value in table.items()}
