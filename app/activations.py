"""Activation functions: names and the ids shaders/activations.slang switches on."""
from __future__ import annotations

from .errors import StudioError
from .jsonfile import shown
from .registry import normalise_name

# name -> id in shaders/activations.slang (ACT_*)
ACTIVATIONS = {"none": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "exp": 5, "exp2": 6, "softplus": 7,
               "silu": 8, "sine": 9}
# Activations whose derivative cannot be computed from their output alone: networks using them also
# store pre-activations for the backward pass.
NEEDS_PREACTIVATION = {"silu", "sine"}
_ALIASES = {normalise_name(n): n for n in ACTIVATIONS} | {"linear": "none", "identity": "none", "exponential": "exp",
                                                           "swish": "silu", "sin": "sine"}


def activation_name(value: object, where: str) -> str:
    """Canonical activation name for a config value such as "LeakyReLU" or "leaky_relu"."""
    if isinstance(value, str) and normalise_name(value) in _ALIASES:
        return _ALIASES[normalise_name(value)]
    raise StudioError(f"{where}: unknown activation {shown(value)}; choose one of: {', '.join(ACTIVATIONS)}")


def activation_id(name: str) -> int:
    return ACTIVATIONS[name]
