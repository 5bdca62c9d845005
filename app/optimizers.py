"""Optimizers (their update rule: shaders/optimizer.slang; its passes: optimizer_step.slang, muon.slang,
optimizer_flat.slang). Updates run on float32 master weights.

adam, adamw (decoupled weight decay), sgd (optional momentum), rmsprop (PyTorch's RMSprop: alpha
smooths the mean square, optional momentum on the normalised step; not centered) and muon (Dr.Jit's
and Keller Jordan's Muon for each layer's weight matrix: momentum, optionally Nesterov's, then a
Newton-Schulz orthogonalisation of the update, scaled by sqrt(max(1, outputs / inputs)); its `adamw`
section steps biases and encoding parameters), each with optional L2
regularisation and tiny-cuda-nn's exponential learning-rate decay: from step `decay_start` on, the
rate is multiplied by `decay_base` every `decay_interval` steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import StudioError
from .registry import Registry, expect_object, parse_settings, setting, settings_of

OPTIMIZERS = Registry("optimizer")
OPTIMIZER_IDS = {"adam": 0, "sgd": 1, "adamw": 2, "rmsprop": 3, "muon": 4}
OPTIMIZERS.register("adam", "Adam", doc="Adam with bias-corrected moments")("adam")
OPTIMIZERS.register("sgd", "SGD", doc="SGD; with momentum the velocity m = momentum·m + g, w −= lr·m")("sgd")
OPTIMIZERS.register("adamw", "AdamW", doc="Adam with decoupled weight decay: w −= lr·weight_decay·w each step")("adamw")
OPTIMIZERS.register("rmsprop", "RMSProp", doc="PyTorch's RMSprop, not centered: v = alpha·v + (1 − alpha)·g², "
                    "m = momentum·m + g / (√v + epsilon), w −= lr·m")("rmsprop")
OPTIMIZERS.register("muon", "Muon", doc="Muon (Dr.Jit's docs, Keller Jordan's) for each layer's weight matrix: "
                    "momentum (optionally Nesterov's), then ns_steps quintic Newton–Schulz iterations "
                    "orthogonalise the update, scaled by √max(1, outputs / inputs); learning_rate is the spectral "
                    "norm of a square matrix's step; its adamw section steps biases and a trainable encoding's "
                    "table (unless the encoding has its own optimizer)")("muon")

_SCHEDULE_KEYS = ("decay_start", "decay_interval", "decay_base")
ADAMS = ("adam", "adamw")
MOMENTUMS = ("sgd", "rmsprop", "muon")
MUON = ("muon",)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Muon's quintic Newton-Schulz iteration (shaders/muon.slang)


def _companion(value: dict | None, where: str) -> "OptimizerConfig":
    """Muon's `adamw` section: the keys of an adamw optimizer section (its otype may be left out)."""
    value = dict(value or {})
    if OPTIMIZERS.lookup(value.pop("otype", "adamw"))[0] != "adamw":
        raise StudioError(f"{where}.otype must be adamw (Muon steps its other parameters with AdamW)")
    return OptimizerConfig.from_config({**value, "otype": "adamw"}, where)


@dataclass(frozen=True)
class OptimizerConfig:
    otype: str = "adam"
    learning_rate: float = setting(1e-3, lo=0.0, hi=10.0, flag="--lr", doc="learning rate (before decay)")
    beta1: float = setting(0.9, lo=0.0, hi=0.999999, otypes=ADAMS, doc="decay of the first moment")
    beta2: float = setting(0.999, lo=0.0, hi=0.99999999, otypes=ADAMS, doc="decay of the second moment")
    epsilon: float = setting(1e-8, lo=0.0, hi=1.0, otypes=(*ADAMS, "rmsprop"),
                             doc="added to the second moment's root")
    alpha: float = setting(0.99, lo=0.0, hi=0.99999999, otypes=("rmsprop",),
                           doc="RMSProp: decay of the mean square, v = alpha·v + (1 − alpha)·g² (PyTorch's alpha)")
    l2_reg: float = setting(0.0, lo=0.0, hi=1.0, doc="L2 regularisation: adds l2_reg·w to the gradient")
    weight_decay: float = setting(0.0, lo=0.0, hi=1.0, otypes=("adamw", *MUON),
                                  doc="decoupled weight decay (AdamW, Muon): w −= lr·weight_decay·w")
    momentum: float = setting(0.0, lo=0.0, hi=0.9999, otypes=MOMENTUMS,
                              doc="SGD, Muon: velocity m = momentum·m + g (Muon: 0.95 is usual); RMSProp: "
                                  "m = momentum·m + g / (√v + epsilon) (0: none)")
    nesterov: bool = setting(True, otypes=MUON, doc="Muon: orthogonalise g + momentum·m (Nesterov) instead of m")
    ns_steps: int = setting(5, lo=1, hi=20, otypes=MUON, doc="Muon: Newton-Schulz iterations")
    adamw: "OptimizerConfig | None" = setting(None, kind=dict, parse=_companion, otypes=MUON,
                                              doc="Muon: an adamw section for biases and encoding parameters")
    decay_start: int = setting(0, lo=0, hi=10**9, doc="tiny-cuda-nn's ExponentialDecay: decay starts after this step")
    decay_interval: int = setting(0, lo=0, hi=10**9, doc="steps per decay (0: no decay)")
    decay_base: float = setting(1.0, lo=0.0, hi=1.0, doc="factor applied every decay_interval steps")

    @property
    def id(self) -> int:
        return OPTIMIZER_IDS[self.otype]

    def learning_rate_at(self, step: int) -> float:
        """The scheduled learning rate for 1-based ``step``."""
        if self.decay_interval <= 0 or step <= self.decay_start:
            return self.learning_rate
        return self.learning_rate * self.decay_base ** ((step - self.decay_start) // self.decay_interval)

    def shader_params(self) -> dict:
        """The OptimizerParams struct of shaders/optimizer.slang (the GPU applies the schedule per step)."""
        return {"kind": self.id, "learning_rate": float(self.learning_rate), "beta1": float(self.beta1),
                "beta2": float(self.beta2), "epsilon": float(self.epsilon), "l2_reg": float(self.l2_reg),
                "weight_decay": float(self.weight_decay), "momentum": float(self.momentum),
                "decay_start": int(self.decay_start), "decay_interval": int(self.decay_interval),
                "decay_base": float(self.decay_base),
                "alpha": float(self.alpha), "nesterov": int(self.nesterov), "ns_steps": int(self.ns_steps)}

    @property
    def elementwise(self) -> "OptimizerConfig":
        """The optimizer of the parameters stepped one by one: Muon's AdamW companion (biases, encodings),
        every parameter's otherwise."""
        if self.otype != "muon":
            return self
        return self.adamw or OptimizerConfig("adamw")

    @classmethod
    def from_config(cls, section: object, where: str = "optimizer") -> "OptimizerConfig":
        s = expect_object(section, where)
        name, _ = OPTIMIZERS.lookup(s.pop("otype", None))
        return cls(name, **parse_settings(cls, s, where, name, extra_keys=("otype",)))

    def settings(self) -> dict:
        """Every key this optimizer reads, with its value (``to_config`` leaves out an unset schedule)."""
        out = {"otype": self.otype, **{s.name: getattr(self, s.name) for s in settings_of(OptimizerConfig, self.otype)}}
        if "adamw" in out:  # a nested section, written as its config
            out["adamw"] = {k: v for k, v in self.elementwise.to_config().items() if k != "otype"}
        return out

    def to_config(self) -> dict:
        out = self.settings()
        if all(out[key] == getattr(OptimizerConfig, key) for key in _SCHEDULE_KEYS):
            for key in _SCHEDULE_KEYS:
                del out[key]
        return out
