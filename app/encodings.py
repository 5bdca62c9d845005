"""Input encodings: how a UV becomes the network's input vector.

Each encoding is a Python class beside a Slang file in shaders/encodings/ that defines
``ENCODING_DIMS``, ``float4 encode_chunk(float2 uv, uint chunk)`` and ``encode_backward_chunk``. The MLP
code only sees those, so new encodings slot in without touching it. Encodings with trainable
parameters (hash grid, permutohedral lattice) report ``parameter_count`` and their initial values; the
trainer gives them a table, a gradient and optimizer state (app/encoding_state.py).

A class declares its hyperparameters once (``hyperparameters``: key -> type, range and the Slang
define that carries it); parsing, validation, the config written back and the defines follow from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import StudioError
from .registry import Registry, reject_unknown, take

ENCODINGS = Registry("encoding")


class Encoding:
    otype = ""
    slang_file = ""
    # key -> (type, lowest, highest, Slang define or None); a dataclass field of the same name holds it
    hyperparameters: dict = {}

    @classmethod
    def from_config(cls, section: dict, where: str) -> "Encoding":
        values = {key: take(section, key, kind, getattr(cls, key), where, lo=lo, hi=hi)
                  for key, (kind, lo, hi, _) in cls.hyperparameters.items()}
        reject_unknown(section, where, ["otype", *cls.hyperparameters])
        encoding = cls(**values)
        encoding.validate(where)
        return encoding

    def validate(self, where: str) -> None:
        """Checks that involve more than one value's range."""

    def to_config(self) -> dict:
        return {"otype": self.otype, **{key: getattr(self, key) for key in self.hyperparameters}}

    def defines(self) -> dict[str, str]:
        return {define: repr(getattr(self, key)) for key, (_, _, _, define) in self.hyperparameters.items() if define}

    @property
    def output_dims(self) -> int:
        raise NotImplementedError

    @property
    def parameter_count(self) -> int:
        """Trainable parameters of the encoding itself (0: a fixed function of the UV)."""
        return 0

    def initial_parameters(self, seed: int) -> np.ndarray:
        """Seeded initial values of the trainable parameters (float32, parameter_count of them)."""
        return np.zeros(0, np.float32)


@ENCODINGS.register("identity", "Identity")
@dataclass(frozen=True)
class IdentityEncoding(Encoding):
    """The network sees (u, v) as they are."""
    otype = "identity"
    slang_file = "encodings/identity.slang"
    output_dims = 2


@ENCODINGS.register("frequency", "Frequency")
@dataclass(frozen=True)
class FrequencyEncoding(Encoding):
    """sin/cos of 2^k*pi*x for k < n_frequencies, per input channel (RTXNS EncodeFrequency uses 3)."""
    n_frequencies: int = 3
    otype = "frequency"
    slang_file = "encodings/frequency.slang"
    hyperparameters = {"n_frequencies": (int, 1, 16, "NTS_FREQUENCIES")}

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.n_frequencies


@ENCODINGS.register("sin", "SinEncode")
@dataclass(frozen=True)
class SinEncoding(Encoding):
    """Dr.Jit SinEncode: t = 2^i*x + i*shift per channel and octave i; sin(2*pi*t), cos(2*pi*t)."""
    octaves: int = 8
    shift: float = 0.0
    otype = "sin"
    slang_file = "encodings/sin.slang"
    hyperparameters = {"octaves": (int, 1, 24, "NTS_OCTAVES"), "shift": (float, -16.0, 16.0, "NTS_SHIFT")}

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.octaves


@ENCODINGS.register("tri", "TriEncode")
@dataclass(frozen=True)
class TriEncoding(SinEncoding):
    """Dr.Jit TriEncode: the triangle-wave pair sin_tri(t), cos_tri(t) with cos_tri(t) = 1 - 4|t - round(t)|."""
    otype = "tri"
    slang_file = "encodings/tri.slang"


@ENCODINGS.register("triangle_wave", "TriangleWave")
@dataclass(frozen=True)
class TriangleWaveEncoding(Encoding):
    """tiny-cuda-nn TriangleWave: v = 2^(j-1)*x + j/4 per channel and frequency j; 4|v - floor(v) - 1/2| - 1."""
    n_frequencies: int = 12
    otype = "triangle_wave"
    slang_file = "encodings/triangle_wave.slang"
    hyperparameters = {"n_frequencies": (int, 1, 24, "NTS_FREQUENCIES")}

    @property
    def output_dims(self) -> int:
        return 2 * self.n_frequencies


@ENCODINGS.register("one_blob", "OneBlob")
@dataclass(frozen=True)
class OneBlobEncoding(Encoding):
    """tiny-cuda-nn OneBlob: a quartic kernel of radius 1/bins around x, integrated over each bin (wrapping)."""
    n_bins: int = 16
    otype = "one_blob"
    slang_file = "encodings/one_blob.slang"
    hyperparameters = {"n_bins": (int, 2, 64, "NTS_BINS")}

    def validate(self, where: str) -> None:
        if self.n_bins & (self.n_bins - 1):
            raise StudioError(f"{where}.n_bins must be a power of two, not {self.n_bins}")

    @property
    def output_dims(self) -> int:
        return 2 * self.n_bins


# Primes of the XOR hash both table encodings index with ((x * p0) ^ (y * p1) in uint32), emitted as
# NTS_HASH_PRIME for the Slang (p0 = 1 is implicit there) and written into exported descriptions.
HASH_PRIMES = (1, 2654435761)

# Level parameters shared by the trainable table encodings (tiny-cuda-nn's names and defaults).
TABLE_HYPERPARAMETERS = {"n_levels": (int, 1, 32, None), "n_features_per_level": (int, 1, 8, None),
                         "log2_hashmap_size": (int, 4, 24, None), "base_resolution": (int, 1, 4096, None),
                         "per_level_scale": (float, 1.0, 4.0, None)}


@dataclass(frozen=True)
class TableEncoding(Encoding):
    """Levels of trainable feature tables, interpolated (shaders/encodings/table_lookup.slang)."""
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 15
    base_resolution: int = 16
    per_level_scale: float = 1.5
    hyperparameters = TABLE_HYPERPARAMETERS

    def validate(self, where: str) -> None:
        if self.n_features_per_level not in (1, 2, 4, 8):
            raise StudioError(f"{where}.n_features_per_level must be 1, 2, 4 or 8, not {self.n_features_per_level}")
        if self.output_dims > 128:
            raise StudioError(f"{where}: n_levels x n_features_per_level = {self.output_dims} exceeds 128 inputs")

    @property
    def output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def parameter_count(self) -> int:
        last = self.levels()[-1]
        return (last["offset"] + last["size"]) * self.n_features_per_level

    def initial_parameters(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 0x6A5])  # a stream of its own, apart from the MLP's
        return rng.uniform(-1e-4, 1e-4, self.parameter_count).astype(np.float32)

    def levels(self) -> list[dict]:
        raise NotImplementedError

    # key of each levels() entry -> what it means (exports write these beside the levels)
    level_fields = {}

    def table_defines(self) -> dict[str, str]:
        return {"NTS_HASH_PRIME": f"{HASH_PRIMES[1]}u"}


@ENCODINGS.register("hash_grid", "HashGrid", "Grid")
@dataclass(frozen=True)
class HashGridEncoding(TableEncoding):
    """Trainable multiresolution hash grid (Instant NGP, tiny-cuda-nn HashGrid) over the 2D UV."""
    otype = "hash_grid"
    slang_file = "encodings/hash_grid.slang"
    level_fields = {
        "scale": "s_l = base_resolution * per_level_scale^l - 1; the grid position of uv is uv * s_l + 0.5",
        "resolution": "r_l = ceil(s_l) + 1 vertices per side",
        "size": "table entries of the level",
        "offset": "the level's first entry in the table",
        "dense": "r_l^2 <= size: vertex (x, y) is entry x + y * r_l, else the hash (x * p0) ^ (y * p1) in uint32 "
                 "(p = hash_primes); either modulo size, plus offset",
    }

    def levels(self) -> list[dict]:
        """Per level: grid scale, resolution (vertices per side), table entries, first entry."""
        out, offset = [], 0
        for l in range(self.n_levels):
            scale = self.base_resolution * self.per_level_scale ** l - 1.0
            res = math.ceil(scale) + 1
            size = min((res * res + 7) // 8 * 8, 1 << self.log2_hashmap_size)
            out.append({"scale": scale, "resolution": res, "size": size, "offset": offset,
                        "dense": res * res <= size})
            offset += size
        return out

    def defines(self) -> dict[str, str]:
        levels = self.levels()
        join = lambda key: ", ".join(repr(v[key]) for v in levels)
        return {**self.table_defines(),
                "NTS_HG_LEVELS": str(self.n_levels), "NTS_HG_FEATURES": str(self.n_features_per_level),
                "NTS_HG_SCALE": join("scale"), "NTS_HG_RES": join("resolution"), "NTS_HG_SIZE": join("size"),
                "NTS_HG_OFFSET": join("offset"), "NTS_HG_DENSE": ", ".join(str(int(v["dense"])) for v in levels)}


@ENCODINGS.register("permuto", "Permuto", "PermutoEncoding")
@dataclass(frozen=True)
class PermutoEncoding(TableEncoding):
    """Trainable permutohedral lattice (PermutoSDF): 3 hashed lookups per level instead of a grid's 4."""
    otype = "permuto"
    slang_file = "encodings/permuto.slang"
    level_fields = {
        "scale": "s_l = base_resolution * per_level_scale^l; the lattice position of uv is uv * s_l + shift",
        "shift": "the level's fixed offset (3 frac(l * 0.618...), 3 frac(l * 0.754...)), keeping levels apart",
        "size": "table entries of the level (2^log2_hashmap_size)",
        "offset": "the level's first entry in the table (l * size)",
    }

    def levels(self) -> list[dict]:
        """Per level: lattice scale, the fixed shift that keeps levels' lattices apart, table entries, first entry."""
        golden = (0.6180339887498949, 0.7548776662466927)
        size = 1 << self.log2_hashmap_size
        return [{"scale": self.base_resolution * self.per_level_scale ** l,
                 "shift": (3.0 * ((l * golden[0]) % 1.0), 3.0 * ((l * golden[1]) % 1.0)),
                 "size": size, "offset": l * size} for l in range(self.n_levels)]

    def defines(self) -> dict[str, str]:
        levels = self.levels()
        return {**self.table_defines(),
                "NTS_PL_LEVELS": str(self.n_levels), "NTS_PL_FEATURES": str(self.n_features_per_level),
                "NTS_PL_SCALE": ", ".join(repr(v["scale"]) for v in levels),
                "NTS_PL_SHIFT_X": ", ".join(repr(v["shift"][0]) for v in levels),
                "NTS_PL_SHIFT_Y": ", ".join(repr(v["shift"][1]) for v in levels),
                "NTS_PL_SIZE": str(1 << self.log2_hashmap_size)}


def encoding_from_config(section: object, where: str = "encoding") -> Encoding:
    if not isinstance(section, dict):
        raise StudioError(f"{where} must be a JSON object with an \"otype\"")
    section = dict(section)
    _, cls = ENCODINGS.lookup(section.pop("otype", None))
    return cls.from_config(section, where)
