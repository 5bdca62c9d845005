"""Loss functions (their GPU code is shaders/losses.slang, LOSS_*)."""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, expect_object, reject_unknown

LOSSES = Registry("loss")
LOSS_IDS = {"l2": 0, "l1": 1, "relative_l2": 2}
LOSSES.register("l2", "L2", "mse", doc="(p − t)², a mean over samples and RGB channels like every loss")("l2")
LOSSES.register("l1", "L1", doc="|p − t|")("l1")
LOSSES.register("relative_l2", "RelativeL2",
                doc="(p − t)² / (p² + 0.01), p not differentiated in the denominator (tiny-cuda-nn's)")("relative_l2")


@dataclass(frozen=True)
class LossConfig:
    otype: str = "l2"

    @property
    def id(self) -> int:
        return LOSS_IDS[self.otype]

    @classmethod
    def from_config(cls, section: object, where: str = "loss") -> "LossConfig":
        s = expect_object(section, where)
        name, _ = LOSSES.lookup(s.pop("otype", None))
        reject_unknown(s, where, ["otype"])
        return cls(name)

    def to_config(self) -> dict:
        return {"otype": self.otype}
