"""The MLP's shape and the packed parameter layout shared with shaders/layout.slang.

Phases (as in Dr.Jit's nn): ``NetworkConfig`` describes the network (cheap, no GPU); ``Layout`` places
its parameters in one flat buffer; ``initial_parameters`` draws seeded initial values. The compact
form (one (W, b) pair per layer, W as outputs x inputs) is what files store; the padded form is what
the GPU buffers hold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import NEEDS_PREACTIVATION, activation_name
from .errors import StudioError
from .registry import expect_object, parse_settings, setting, settings_of, take

PRECISIONS = ("float32", "float16")
NETWORK_OTYPES = ("MLP", "FullyFusedMLP")  # one family; tiny-cuda-nn's names for it
OUTPUT_CHANNELS = 3


@dataclass(frozen=True)
class NetworkConfig:
    n_neurons: int = setting(64, lo=16, hi=128, doc="hidden width")
    n_hidden_layers: int = setting(4, lo=1, hi=8, doc="hidden layers")
    activation: str = setting("leaky_relu", parse=activation_name, doc="activation of the hidden layers")
    output_activation: str = setting("sigmoid", parse=activation_name, doc="activation of the output layer")
    leaky_relu_alpha: float = setting(0.01, lo=0.0, hi=1.0, doc="leaky ReLU slope for x < 0")
    bias: bool = setting(True, doc="layers add a bias")
    precision: str = setting("float32", choices=lambda: PRECISIONS, doc="storage precision of weights and activations (float32 master weights either way)")

    @classmethod
    def from_config(cls, section: object, where: str = "network") -> "NetworkConfig":
        s = expect_object(section, where)
        take(s, "otype", str, "MLP", where, choices=NETWORK_OTYPES)
        return cls(**parse_settings(cls, s, where, extra_keys=("otype",)))

    def to_config(self) -> dict:
        return {"otype": "MLP", **{s.name: getattr(self, s.name) for s in settings_of(NetworkConfig)}}

    @property
    def half(self) -> bool:
        return self.precision == "float16"

    @property
    def needs_preactivation(self) -> bool:
        return bool({self.activation, self.output_activation} & NEEDS_PREACTIVATION)


def _ceil8(n: int) -> int:
    return (n + 7) // 8 * 8


@dataclass(frozen=True)
class Layout:
    """Padded placement of every parameter; mirrors shaders/layout.slang function by function."""
    input_dims: int
    hidden: int
    n_hidden_layers: int
    bias: bool
    store_preactivation: bool = False

    @classmethod
    def of(cls, input_dims: int, net: NetworkConfig) -> "Layout":
        return cls(input_dims, net.n_neurons, net.n_hidden_layers, net.bias, net.needs_preactivation)

    @property
    def layers(self) -> int:
        return self.n_hidden_layers + 1

    @property
    def in0_chunks(self) -> int:
        return _ceil8(self.input_dims) // 4

    @property
    def hidden_padded(self) -> int:
        return _ceil8(self.hidden)

    def in_chunks(self, l: int) -> int:
        return self.in0_chunks if l == 0 else self.hidden_padded // 4

    def out_rows(self, l: int) -> int:
        return 8 if l == self.layers - 1 else self.hidden_padded

    def in_real(self, l: int) -> int:
        return self.input_dims if l == 0 else self.hidden

    def out_real(self, l: int) -> int:
        return OUTPUT_CHANNELS if l == self.layers - 1 else self.hidden

    def wf_offset(self, l: int) -> int:
        """Offset of layer l in the forward weight buffer, in float4 (rows of in_chunks+1 float4)."""
        return sum(self.out_rows(m) * (self.in_chunks(m) + 1) for m in range(l))

    def wt_offset(self, l: int) -> int:
        return sum(self.in_chunks(m) * 4 * self.out_rows(m) // 4 for m in range(l))

    @property
    def wf_float4s(self) -> int:
        return self.wf_offset(self.layers)

    @property
    def wt_float4s(self) -> int:
        return self.wt_offset(self.layers)

    @property
    def padded_floats(self) -> int:
        return self.wf_float4s * 4

    # Per-sample record slots (float4 each), as h_slot / y_slot / d_slot in shaders/layout.slang.
    def h_slot(self, l: int) -> int:
        return 0 if l == 0 else self.in0_chunks + (l - 1) * self.hidden_padded // 4

    @property
    def y_slot(self) -> int:
        return self.h_slot(self.layers)

    def d_slot(self, l: int) -> int:
        return self.y_slot + 2 + l * self.hidden_padded // 4

    def z_slot(self, l: int) -> int:
        return self.d_slot(self.layers - 1) + 2 + l * self.hidden_padded // 4

    @property
    def dx_slot(self) -> int:
        """dLoss/d(encoded inputs), used by trainable encodings."""
        return self.z_slot(self.layers - 1) + 2 if self.store_preactivation else self.d_slot(self.layers - 1) + 2

    @property
    def record_slots(self) -> int:
        return self.dx_slot + self.in0_chunks

    def shapes(self) -> list[tuple[int, int]]:
        """(outputs, inputs) of each linear layer."""
        return [(self.out_real(l), self.in_real(l)) for l in range(self.layers)]

    @property
    def parameter_count(self) -> int:
        return sum(o * i + (o if self.bias else 0) for o, i in self.shapes())

    def compact_offsets(self) -> list[dict]:
        """Per-layer offsets into the compact vector (weights row-major outputs x inputs, then biases)."""
        out, at = [], 0
        for o, i in self.shapes():
            entry = {"inputs": i, "outputs": o, "weight_offset": at}
            at += o * i
            entry["bias_offset"] = at if self.bias else None
            at += o if self.bias else 0
            out.append(entry)
        return out

    def pack(self, compact: np.ndarray) -> np.ndarray:
        """Compact parameter vector -> padded float32 master vector."""
        compact = np.asarray(compact, np.float32)
        if compact.shape != (self.parameter_count,):
            raise StudioError(f"expected {self.parameter_count} parameters, got {compact.size}")
        padded = np.zeros(self.padded_floats, np.float32)
        for l, entry in enumerate(self.compact_offsets()):
            o, i = entry["outputs"], entry["inputs"]
            block = self._layer_block(padded, l)
            block[:o, :i] = compact[entry["weight_offset"]:entry["weight_offset"] + o * i].reshape(o, i)
            if self.bias:
                block[:o, self.in_chunks(l) * 4] = compact[entry["bias_offset"]:entry["bias_offset"] + o]
        return padded

    def unpack(self, padded: np.ndarray) -> np.ndarray:
        """Padded master vector -> compact parameter vector."""
        padded = np.asarray(padded, np.float32)
        parts = []
        for l, (o, i) in enumerate(self.shapes()):
            block = self._layer_block(padded, l)
            parts.append(block[:o, :i].reshape(-1))
            if self.bias:
                parts.append(block[:o, self.in_chunks(l) * 4])
        return np.concatenate(parts).astype(np.float32)

    def layers_of(self, compact: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Compact vector -> [(W (outputs x inputs), b or None)] per layer."""
        result = []
        for entry in self.compact_offsets():
            o, i, w0 = entry["outputs"], entry["inputs"], entry["weight_offset"]
            w = compact[w0:w0 + o * i].reshape(o, i)
            b = compact[entry["bias_offset"]:entry["bias_offset"] + o] if self.bias else None
            result.append((w, b))
        return result

    def _layer_block(self, padded: np.ndarray, l: int) -> np.ndarray:
        start = self.wf_offset(l) * 4
        rows, row_floats = self.out_rows(l), (self.in_chunks(l) + 1) * 4
        return padded[start:start + rows * row_floats].reshape(rows, row_floats)


def initial_parameters(layout: Layout, seed: int) -> np.ndarray:
    """Seeded compact parameters: Xavier-uniform weights, zero biases (tiny-cuda-nn's choice)."""
    rng = np.random.default_rng(seed)
    parts = []
    for o, i in layout.shapes():
        limit = np.sqrt(6.0 / (i + o))
        parts.append(rng.uniform(-limit, limit, size=o * i))
        if layout.bias:
            parts.append(np.zeros(o))
    return np.concatenate(parts).astype(np.float32)
