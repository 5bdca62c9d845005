"""Optimizers (their GPU code is shaders/optimizer.slang). Updates run on float32 master weights.

adam, adamw (decoupled weight decay) and sgd (optional momentum), each with optional L2
regularisation and tiny-cuda-nn's exponential learning-rate decay: from step `decay_start` on, the
rate is multiplied by `decay_base` every `decay_interval` steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, expect_object, reject_unknown, take

OPTIMIZERS = Registry("optimizer")
OPTIMIZER_IDS = {"adam": 0, "sgd": 1, "adamw": 2}
OPTIMIZERS.register("adam", "Adam")("adam")
OPTIMIZERS.register("sgd", "SGD")("sgd")
OPTIMIZERS.register("adamw", "AdamW")("adamw")

_SCHEDULE_KEYS = ["decay_start", "decay_interval", "decay_base"]
_KEYS = {"adam": ["beta1", "beta2", "epsilon", "l2_reg"], "adamw": ["beta1", "beta2", "epsilon", "l2_reg", "weight_decay"],
         "sgd": ["momentum", "l2_reg"]}


@dataclass(frozen=True)
class OptimizerConfig:
    otype: str = "adam"
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    l2_reg: float = 0.0
    weight_decay: float = 0.0
    momentum: float = 0.0
    decay_start: int = 0
    decay_interval: int = 0      # 0: no decay
    decay_base: float = 1.0

    @property
    def id(self) -> int:
        return OPTIMIZER_IDS[self.otype]

    def learning_rate_at(self, step: int) -> float:
        """The scheduled learning rate for 1-based ``step``."""
        if self.decay_interval <= 0 or step <= self.decay_start:
            return self.learning_rate
        return self.learning_rate * self.decay_base ** ((step - self.decay_start) // self.decay_interval)

    def shader_params(self, step: int) -> dict:
        """The OptimizerParams struct of shaders/optimizer.slang for one step."""
        return {"kind": self.id, "learning_rate": float(self.learning_rate_at(step)), "beta1": float(self.beta1),
                "beta2": float(self.beta2), "epsilon": float(self.epsilon), "step": step, "l2_reg": float(self.l2_reg), "weight_decay": float(self.weight_decay),
                "momentum": float(self.momentum)}

    @classmethod
    def from_config(cls, section: object, where: str = "optimizer") -> "OptimizerConfig":
        s = expect_object(section, where)
        name, _ = OPTIMIZERS.lookup(s.pop("otype", None))
        d = cls()
        values = {"learning_rate": take(s, "learning_rate", float, d.learning_rate, where, lo=0.0, hi=10.0)}
        ranges = {"beta1": (float, 0.0, 0.999999), "beta2": (float, 0.0, 0.99999999), "epsilon": (float, 0.0, 1.0),
                  "l2_reg": (float, 0.0, 1.0), "weight_decay": (float, 0.0, 1.0), "momentum": (float, 0.0, 0.9999),
                  "decay_start": (int, 0, 10**9), "decay_interval": (int, 0, 10**9), "decay_base": (float, 0.0, 1.0)}
        for key in _KEYS[name] + _SCHEDULE_KEYS:
            kind, lo, hi = ranges[key]
            values[key] = take(s, key, kind, getattr(d, key), where, lo=lo, hi=hi)
        reject_unknown(s, where, ["otype", "learning_rate"] + _KEYS[name] + _SCHEDULE_KEYS)
        return cls(name, **values)

    def settings(self) -> dict:
        """Every key this optimizer reads, with its value (``to_config`` leaves out an unused schedule)."""
        keys = ["otype", "learning_rate"] + _KEYS[self.otype] + _SCHEDULE_KEYS
        return {key: getattr(self, key) for key in keys}

    def to_config(self) -> dict:
        out = {"otype": self.otype, "learning_rate": self.learning_rate}
        for key in _KEYS[self.otype]:
            out[key] = getattr(self, key)
        if any(getattr(self, key) != getattr(OptimizerConfig, key) for key in _SCHEDULE_KEYS):  # written when set
            out.update({key: getattr(self, key) for key in _SCHEDULE_KEYS})
        return out
