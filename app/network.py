"""The MLP's shape and the packed parameter layout shared with shaders/layout.slang.

Phases (as in Dr.Jit's nn): ``NetworkConfig`` describes the network (cheap, no GPU); ``Layout`` places
its parameters in one flat buffer; ``initial_parameters`` draws seeded initial values. The compact
form (one (W, b) pair per layer, W as outputs x inputs) is what files store; the padded form is what
the GPU buffers hold.

Network arrays (otype "array", tinn's idea): TX x TY tiles of the texture, each with its own MLP of
this shape. Every per-layer offset below is that of one tile's network; the tiles' blocks follow each
other, tile-major (tile t = ty * TX + tx), in both the compact and the padded form. How samples pick
tiles is app/tiles.py's (and shaders/tiles.slang's).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import NEEDS_PREACTIVATION, activation_name
from .errors import StudioError
from .jsonfile import shown
from .registry import expect_object, parse_settings, setting, settings_of, take

PRECISIONS = ("float32", "float16")
OUTPUT_CHANNELS = 3
NETWORK_OTYPES = ("MLP", "array")  # tiny-cuda-nn's FullyFusedMLP is read as MLP
MAX_TILES = 64  # tiles per side of a network array


def _tiles(value, where: str) -> tuple[int, int]:
    """[TX, TY] of a network array: two integers in [1, MAX_TILES]."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_TILES for v in value)):
        raise StudioError(f"{where} must be [TX, TY], two integers from 1 to {MAX_TILES}, not {shown(value)}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class NetworkConfig:
    n_neurons: int = setting(64, lo=4, hi=128, doc="hidden width")
    n_hidden_layers: int = setting(4, lo=1, hi=8, doc="hidden layers")
    activation: str = setting("leaky_relu", parse=activation_name, doc="activation of the hidden layers")
    output_activation: str = setting("sigmoid", parse=activation_name, doc="activation of the output layer")
    leaky_relu_alpha: float = setting(0.01, lo=0.0, hi=1.0, doc="leaky ReLU slope for x < 0")
    bias: bool = setting(True, doc="layers add a bias")
    precision: str = setting("float32", choices=lambda: PRECISIONS, doc="storage precision of weights and activations (float32 master weights either way)")
    tiles: tuple = setting((8, 8), parse=_tiles, otypes=("array",), doc=f"[TX, TY], 1 to {MAX_TILES} each: tiles, one network each")
    blend: bool = setting(False, otypes=("array",),
                          doc="blend the four nearest tiles' networks bilinearly (no seams at tile borders)")
    local_uv: bool = setting(True, otypes=("array",),
                             doc="each network sees the uv local to its tile (else the texture's uv)")
    otype: str = "MLP"  # "MLP": one network; "array": one network per tile (last: positional use stays valid)

    @classmethod
    def from_config(cls, section: object, where: str = "network") -> "NetworkConfig":
        s = expect_object(section, where)
        # tiny-cuda-nn's two MLP names are one family here; "array" is tinn's network array
        otype = take(s, "otype", str, "MLP", where, choices=(*NETWORK_OTYPES, "FullyFusedMLP"))
        otype = "array" if otype == "array" else "MLP"
        return cls(otype=otype, **parse_settings(cls, s, where, otype, extra_keys=("otype",)))

    def to_config(self) -> dict:
        out = {s.name: getattr(self, s.name) for s in settings_of(NetworkConfig, self.otype)}
        if self.is_array:
            out["tiles"] = list(self.tiles)
        return {"otype": self.otype, **out}

    @property
    def is_array(self) -> bool:
        return self.otype == "array"

    @property
    def tile_grid(self) -> tuple[int, int]:
        """(TX, TY); (1, 1) for a single network."""
        return tuple(self.tiles) if self.is_array else (1, 1)

    @property
    def tile_count(self) -> int:
        return self.tile_grid[0] * self.tile_grid[1]

    @property
    def corners(self) -> int:
        """Networks evaluated per sample: 4 with blending, else 1."""
        return 4 if self.is_array and self.blend else 1

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
    """Padded placement of every parameter; mirrors shaders/layout.slang function by function. Offsets
    and record slots are per tile (one network); ``tiles`` networks follow each other in every buffer."""
    input_dims: int
    hidden: int
    n_hidden_layers: int
    bias: bool
    store_preactivation: bool = False
    tiles: int = 1

    @classmethod
    def of(cls, input_dims: int, net: NetworkConfig) -> "Layout":
        return cls(input_dims, net.n_neurons, net.n_hidden_layers, net.bias, net.needs_preactivation,
                   net.tile_count)

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
        """Offset of layer l in a tile's forward weights, in float4 (rows of in_chunks+1 float4)."""
        return sum(self.out_rows(m) * (self.in_chunks(m) + 1) for m in range(l))

    def wt_offset(self, l: int) -> int:
        return sum(self.in_chunks(m) * 4 * self.out_rows(m) // 4 for m in range(l))

    @property
    def wf_float4s(self) -> int:
        """Forward weights of all tiles, in float4."""
        return self.wf_offset(self.layers) * self.tiles

    @property
    def wt_float4s(self) -> int:
        return self.wt_offset(self.layers) * self.tiles

    @property
    def tile_padded_floats(self) -> int:
        """Padded floats of one tile's network (the stride between tiles of the master parameters)."""
        return self.wf_offset(self.layers) * 4

    @property
    def padded_floats(self) -> int:
        return self.tile_padded_floats * self.tiles

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
    def tile_parameter_count(self) -> int:
        """Parameters of one tile's network."""
        return sum(o * i + (o if self.bias else 0) for o, i in self.shapes())

    @property
    def parameter_count(self) -> int:
        return self.tile_parameter_count * self.tiles

    def compact_offsets(self) -> list[dict]:
        """Per-layer offsets into one tile's compact vector (weights row-major outputs x inputs, then
        biases); tile t's vector starts at t * tile_parameter_count."""
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
        n, floats = self.tile_parameter_count, self.tile_padded_floats
        for t in range(self.tiles):
            tile = padded[t * floats:(t + 1) * floats]
            for l, (w, b) in enumerate(self._split(compact[t * n:(t + 1) * n])):
                block = self._layer_block(tile, l)
                block[:w.shape[0], :w.shape[1]] = w
                if b is not None:
                    block[:b.size, self.in_chunks(l) * 4] = b
        return padded

    def unpack(self, padded: np.ndarray) -> np.ndarray:
        """Padded master vector -> compact parameter vector."""
        padded = np.asarray(padded, np.float32)
        parts, floats = [], self.tile_padded_floats
        for t in range(self.tiles):
            tile = padded[t * floats:(t + 1) * floats]
            for l, (o, i) in enumerate(self.shapes()):
                block = self._layer_block(tile, l)
                parts.append(block[:o, :i].reshape(-1))
                if self.bias:
                    parts.append(block[:o, self.in_chunks(l) * 4])
        return np.concatenate(parts).astype(np.float32)

    def layers_of(self, compact: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Compact vector of a single network -> [(W (outputs x inputs), b or None)] per layer."""
        if self.tiles != 1:
            raise StudioError("a network array has one set of layers per tile: use tile_layers_of")
        return self._split(compact)

    def tile_layers_of(self, compact: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Compact vector -> [(W (tiles x outputs x inputs), b (tiles x outputs) or None)] per layer."""
        n = self.tile_parameter_count
        per_tile = [self._split(compact[t * n:(t + 1) * n]) for t in range(self.tiles)]
        return [(np.stack([p[l][0] for p in per_tile]), None if not self.bias else np.stack([p[l][1] for p in per_tile]))
                for l in range(self.layers)]

    def _split(self, compact: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
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
    for _ in range(layout.tiles):  # tile-major, like the compact vector
        for o, i in layout.shapes():
            limit = np.sqrt(6.0 / (i + o))
            parts.append(rng.uniform(-limit, limit, size=o * i))
            if layout.bias:
                parts.append(np.zeros(o))
    return np.concatenate(parts).astype(np.float32)
