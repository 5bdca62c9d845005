"""Optimizers (their GPU code is shaders/optimizer.slang). Updates run on float32 master weights."""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, reject_unknown, take

OPTIMIZERS = Registry("optimizer")
OPTIMIZER_IDS = {"adam": 0, "sgd": 1}
OPTIMIZERS.register("adam", "Adam")("adam")
OPTIMIZERS.register("sgd", "SGD")("sgd")


@dataclass(frozen=True)
class OptimizerConfig:
    otype: str = "adam"
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    @property
    def id(self) -> int:
        return OPTIMIZER_IDS[self.otype]

    @classmethod
    def from_config(cls, section: object, where: str = "optimizer") -> "OptimizerConfig":
        from .preset import expect_object
        s = expect_object(section, where)
        name, _ = OPTIMIZERS.lookup(s.pop("otype", None))
        d = cls()
        lr = take(s, "learning_rate", float, d.learning_rate, where, lo=0.0, hi=10.0)
        if name == "sgd":
            reject_unknown(s, where, ["otype", "learning_rate"])
            return cls(name, lr)
        cfg = cls(name, lr,
                  beta1=take(s, "beta1", float, d.beta1, where, lo=0.0, hi=0.999999),
                  beta2=take(s, "beta2", float, d.beta2, where, lo=0.0, hi=0.99999999),
                  epsilon=take(s, "epsilon", float, d.epsilon, where, lo=0.0, hi=1.0))
        reject_unknown(s, where, ["otype", "learning_rate", "beta1", "beta2", "epsilon"])
        return cfg

    def to_config(self) -> dict:
        if self.otype == "sgd":
            return {"otype": "sgd", "learning_rate": self.learning_rate}
        return {"otype": self.otype, "learning_rate": self.learning_rate, "beta1": self.beta1,
                "beta2": self.beta2, "epsilon": self.epsilon}
