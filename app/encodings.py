"""Input encodings: how a UV becomes the network's input vector.

Each encoding is a Python class beside a Slang file in shaders/encodings/ that defines
``ENCODING_DIMS``, ``float4 encode_chunk(float2 uv, uint chunk)`` and ``encode_backward_chunk``. The MLP
code only sees those, so new encodings slot in without touching it. Encodings with trainable
parameters (hash grid, permutohedral lattice) report ``parameter_count`` and their initial values; the
trainer gives them a table, a gradient and optimizer state (app/encoding_state.py).

A class declares its hyperparameters once, as dataclass fields made with ``setting`` (type, range,
documentation and the Slang define that carries it); parsing, validation, the config written back, the
window's widgets, the defines and the README's preset reference follow from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import StudioError
from .registry import Registry, parse_settings, setting, settings_of

ENCODINGS = Registry("encoding")


class Encoding:
    otype = ""
    slang_file = ""

    @classmethod
    def from_config(cls, section: dict, where: str) -> "Encoding":
        encoding = cls(**parse_settings(cls, section, where, extra_keys=("otype",)))
        encoding.validate(where)
        return encoding

    def validate(self, where: str) -> None:
        """Checks that involve more than one value's range."""

    def to_config(self) -> dict:
        return {"otype": self.otype, **{s.name: getattr(self, s.name) for s in settings_of(type(self))}}

    def defines(self) -> dict[str, str]:
        return {s.define: repr(getattr(self, s.name)) for s in settings_of(type(self)) if s.define}

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
    """sin and cos of 2^k·π·x for k < n_frequencies, per input channel (RTXNS EncodeFrequency: 3 → 12 inputs)."""
    n_frequencies: int = setting(3, lo=1, hi=16, define="NTS_FREQUENCIES", doc="frequencies per channel")
    otype = "frequency"
    slang_file = "encodings/frequency.slang"

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.n_frequencies


@ENCODINGS.register("sin", "SinEncode")
@dataclass(frozen=True)
class SinEncoding(Encoding):
    """Dr.Jit's SinEncode: t = 2^i·x + i·shift per channel and octave i; sin 2πt and cos 2πt."""
    octaves: int = setting(8, lo=1, hi=24, define="NTS_OCTAVES", doc="octaves per channel")
    shift: float = setting(0.0, lo=-16.0, hi=16.0, define="NTS_SHIFT", doc="phase shift added per octave")
    otype = "sin"
    slang_file = "encodings/sin.slang"

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.octaves


@ENCODINGS.register("tri", "TriEncode")
@dataclass(frozen=True)
class TriEncoding(SinEncoding):
    """Dr.Jit's TriEncode: t as in sin; the triangle-wave pair sin△(t) = cos△(t − ¼), cos△(t) = 1 − 4·|t − round(t)|."""
    otype = "tri"
    slang_file = "encodings/tri.slang"


@ENCODINGS.register("triangle_wave", "TriangleWave")
@dataclass(frozen=True)
class TriangleWaveEncoding(Encoding):
    """tiny-cuda-nn's TriangleWave: v = 2^(j−1)·x + j/4 per channel and frequency j; 4·|v − ⌊v⌋ − ½| − 1."""
    n_frequencies: int = setting(12, lo=1, hi=24, define="NTS_FREQUENCIES", doc="frequencies per channel")
    otype = "triangle_wave"
    slang_file = "encodings/triangle_wave.slang"

    @property
    def output_dims(self) -> int:
        return 2 * self.n_frequencies


@ENCODINGS.register("one_blob", "OneBlob")
@dataclass(frozen=True)
class OneBlobEncoding(Encoding):
    """tiny-cuda-nn's OneBlob: a quartic kernel of radius 1/bins around x, integrated over each bin (wrapping)."""
    n_bins: int = setting(16, lo=2, hi=64, define="NTS_BINS", doc="bins per channel; a power of two")
    otype = "one_blob"
    slang_file = "encodings/one_blob.slang"

    def validate(self, where: str) -> None:
        if self.n_bins & (self.n_bins - 1):
            raise StudioError(f"{where}.n_bins must be a power of two, not {self.n_bins}")

    @property
    def output_dims(self) -> int:
        return 2 * self.n_bins


# Primes of the XOR hash both table encodings index with ((x * p0) ^ (y * p1) in uint32), emitted as
# NTS_HASH_PRIME for the Slang (p0 = 1 is implicit there) and written into exported descriptions.
HASH_PRIMES = (1, 2654435761)


@dataclass(frozen=True)
class TableEncoding(Encoding):
    """Levels of trainable feature tables, interpolated (shaders/encodings/table_lookup.slang); tiny-cuda-nn's
    names and defaults. Tables start uniform in ±1e-4; float16 networks read a float16 copy of the float32
    master table."""
    n_levels: int = setting(16, lo=1, hi=32, doc="resolution levels")
    n_features_per_level: int = setting(2, lo=1, hi=8, doc="features per level: 1, 2, 4 or 8")
    log2_hashmap_size: int = setting(15, lo=4, hi=24, doc="log2 of the entries of a level's table")
    base_resolution: int = setting(16, lo=1, hi=4096, doc="resolution of the coarsest level")
    per_level_scale: float = setting(1.5, lo=1.0, hi=4.0, doc="resolution factor between levels")

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

    @property
    def table_vector(self) -> int:
        """Table values per typed read: an entry's features, at most four (the forward copy's texel format)."""
        return min(self.n_features_per_level, 4)

    def table_defines(self) -> dict[str, str]:
        return {"NTS_HASH_PRIME": f"{HASH_PRIMES[1]}u", "NTS_TABLE_VECTOR": str(self.table_vector)}


@ENCODINGS.register("hash_grid", "HashGrid", "Grid")
@dataclass(frozen=True)
class HashGridEncoding(TableEncoding):
    """Trainable multiresolution hash grid (Instant NGP, tiny-cuda-nn's HashGrid): level l has scale
    s = base·scale^l − 1 and resolution ⌈s⌉ + 1; bilinear interpolation of the 4 vertices around uv·s + ½;
    dense indexing where the level fits its 2^log2 table, else the hash x ⊕ y·2654435761."""
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
    """Trainable permutohedral lattice (PermutoSDF): uv·base·scale^l plus a fixed per-level shift on the A2*
    lattice; 3 hashed vertices per level with barycentric weights, instead of a grid's 4."""
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
