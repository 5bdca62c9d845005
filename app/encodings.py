"""Input encodings: how a UV becomes the network's input vector.

Each encoding is a Python class beside a Slang file in shaders/encodings/ that defines
``ENCODING_DIMS`` and ``float4 encode_chunk(float2 uv, uint chunk)``. The MLP code only sees those two,
so new encodings (trainable ones included) slot in without touching it: a trainable encoding adds its
parameter buffer through ``parameter_count`` and a backward function in its Slang file.
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry, reject_unknown, take

ENCODINGS = Registry("encoding")


class Encoding:
    otype: str = ""
    slang_file: str = ""

    @property
    def output_dims(self) -> int:
        raise NotImplementedError

    def defines(self) -> dict[str, str]:
        return {}

    def to_config(self) -> dict:
        return {"otype": self.otype}

    @property
    def parameter_count(self) -> int:
        """Trainable parameters of the encoding itself (0: a fixed function of the UV)."""
        return 0

    def initial_parameters(self, seed: int):
        """Seeded initial values of the trainable parameters (float32, parameter_count of them)."""
        import numpy as np
        return np.zeros(0, np.float32)


@ENCODINGS.register("identity", "Identity")
@dataclass(frozen=True)
class IdentityEncoding(Encoding):
    otype = "identity"
    slang_file = "encodings/identity.slang"

    @classmethod
    def from_config(cls, section: dict, where: str) -> "IdentityEncoding":
        reject_unknown(section, where, ["otype"])
        return cls()

    @property
    def output_dims(self) -> int:
        return 2


@ENCODINGS.register("frequency", "Frequency")
@dataclass(frozen=True)
class FrequencyEncoding(Encoding):
    """sin/cos of 2^k*pi*x for k < n_frequencies, per input channel (RTXNS EncodeFrequency uses 3)."""
    n_frequencies: int = 3
    otype = "frequency"
    slang_file = "encodings/frequency.slang"

    @classmethod
    def from_config(cls, section: dict, where: str) -> "FrequencyEncoding":
        n = take(section, "n_frequencies", int, 3, where, lo=1, hi=16)
        reject_unknown(section, where, ["otype", "n_frequencies"])
        return cls(n)

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.n_frequencies

    def defines(self) -> dict[str, str]:
        return {"NTS_FREQUENCIES": str(self.n_frequencies)}

    def to_config(self) -> dict:
        return {"otype": self.otype, "n_frequencies": self.n_frequencies}


@ENCODINGS.register("sin", "SinEncode")
@dataclass(frozen=True)
class SinEncoding(Encoding):
    """Dr.Jit SinEncode: t = 2^i*x + i*shift per channel and octave i; sin(2*pi*t), cos(2*pi*t)."""
    octaves: int = 8
    shift: float = 0.0
    otype = "sin"
    slang_file = "encodings/sin.slang"

    @classmethod
    def from_config(cls, section: dict, where: str):
        octaves = take(section, "octaves", int, cls.octaves, where, lo=1, hi=24)
        shift = take(section, "shift", float, cls.shift, where, lo=-16.0, hi=16.0)
        reject_unknown(section, where, ["otype", "octaves", "shift"])
        return cls(octaves, shift)

    @property
    def output_dims(self) -> int:
        return 2 * 2 * self.octaves

    def defines(self) -> dict[str, str]:
        return {"NTS_OCTAVES": str(self.octaves), "NTS_SHIFT": f"{self.shift!r}"}

    def to_config(self) -> dict:
        return {"otype": self.otype, "octaves": self.octaves, "shift": self.shift}


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

    @classmethod
    def from_config(cls, section: dict, where: str):
        n = take(section, "n_frequencies", int, cls.n_frequencies, where, lo=1, hi=24)
        reject_unknown(section, where, ["otype", "n_frequencies"])
        return cls(n)

    @property
    def output_dims(self) -> int:
        return 2 * self.n_frequencies

    def defines(self) -> dict[str, str]:
        return {"NTS_FREQUENCIES": str(self.n_frequencies)}

    def to_config(self) -> dict:
        return {"otype": self.otype, "n_frequencies": self.n_frequencies}


@ENCODINGS.register("one_blob", "OneBlob")
@dataclass(frozen=True)
class OneBlobEncoding(Encoding):
    """tiny-cuda-nn OneBlob: a quartic kernel of radius 1/bins around x, integrated over each bin (wrapping)."""
    n_bins: int = 16
    otype = "one_blob"
    slang_file = "encodings/one_blob.slang"

    @classmethod
    def from_config(cls, section: dict, where: str):
        n = take(section, "n_bins", int, cls.n_bins, where, lo=2, hi=64)
        if n & (n - 1):
            from .errors import StudioError
            raise StudioError(f"{where}.n_bins must be a power of two, not {n}")
        reject_unknown(section, where, ["otype", "n_bins"])
        return cls(n)

    @property
    def output_dims(self) -> int:
        return 2 * self.n_bins

    def defines(self) -> dict[str, str]:
        return {"NTS_BINS": str(self.n_bins)}

    def to_config(self) -> dict:
        return {"otype": self.otype, "n_bins": self.n_bins}


@ENCODINGS.register("hash_grid", "HashGrid", "Grid")
@dataclass(frozen=True)
class HashGridEncoding(Encoding):
    """Trainable multiresolution hash grid (Instant NGP, tiny-cuda-nn HashGrid) over the 2D UV."""
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 15
    base_resolution: int = 16
    per_level_scale: float = 1.5
    otype = "hash_grid"
    slang_file = "encodings/hash_grid.slang"

    from_config = classmethod(lambda cls, section, where: cls(**_table_config(cls, section, where)))

    def levels(self) -> list[dict]:
        """Per level: grid scale, resolution (vertices per side), table entries, first entry."""
        import math
        out, offset = [], 0
        for l in range(self.n_levels):
            scale = self.base_resolution * self.per_level_scale ** l - 1.0
            res = math.ceil(scale) + 1
            size = min((res * res + 7) // 8 * 8, 1 << self.log2_hashmap_size)
            out.append({"scale": scale, "resolution": res, "size": size, "offset": offset,
                        "dense": res * res <= size})
            offset += size
        return out

    @property
    def output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def parameter_count(self) -> int:
        last = self.levels()[-1]
        return (last["offset"] + last["size"]) * self.n_features_per_level

    def initial_parameters(self, seed: int):
        import numpy as np
        rng = np.random.default_rng([seed, 0x6A5])  # a stream of its own, apart from the MLP's
        return rng.uniform(-1e-4, 1e-4, self.parameter_count).astype(np.float32)

    def defines(self) -> dict[str, str]:
        levels = self.levels()
        join = lambda key, fmt: ", ".join(fmt(v[key]) for v in levels)
        return {"NTS_HG_LEVELS": str(self.n_levels), "NTS_HG_FEATURES": str(self.n_features_per_level),
                "NTS_HG_SCALE": join("scale", lambda x: f"{x!r}"), "NTS_HG_RES": join("resolution", str),
                "NTS_HG_SIZE": join("size", str), "NTS_HG_OFFSET": join("offset", str)}

    def to_config(self) -> dict:
        return {"otype": self.otype, "n_levels": self.n_levels, "n_features_per_level": self.n_features_per_level,
                "log2_hashmap_size": self.log2_hashmap_size, "base_resolution": self.base_resolution,
                "per_level_scale": self.per_level_scale}


@ENCODINGS.register("permuto", "Permuto", "PermutoEncoding")
@dataclass(frozen=True)
class PermutoEncoding(Encoding):
    """Trainable permutohedral lattice (PermutoSDF): 3 hashed lookups per level instead of a grid's 4."""
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 15
    base_resolution: int = 16
    per_level_scale: float = 1.5
    otype = "permuto"
    slang_file = "encodings/permuto.slang"

    from_config = classmethod(lambda cls, section, where: cls(**_table_config(cls, section, where)))

    def levels(self) -> list[dict]:
        """Per level: lattice scale and the fixed shift that keeps levels' lattices from aligning."""
        golden = (0.6180339887498949, 0.7548776662466927)
        return [{"scale": self.base_resolution * self.per_level_scale ** l,
                 "shift": (3.0 * ((l * golden[0]) % 1.0), 3.0 * ((l * golden[1]) % 1.0)),
                 "size": 1 << self.log2_hashmap_size, "offset": l << self.log2_hashmap_size}
                for l in range(self.n_levels)]

    @property
    def output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def parameter_count(self) -> int:
        return (self.n_levels << self.log2_hashmap_size) * self.n_features_per_level

    initial_parameters = HashGridEncoding.initial_parameters

    def defines(self) -> dict[str, str]:
        levels = self.levels()
        return {"NTS_PL_LEVELS": str(self.n_levels), "NTS_PL_FEATURES": str(self.n_features_per_level),
                "NTS_PL_SCALE": ", ".join(repr(v["scale"]) for v in levels),
                "NTS_PL_SHIFT_X": ", ".join(repr(v["shift"][0]) for v in levels),
                "NTS_PL_SHIFT_Y": ", ".join(repr(v["shift"][1]) for v in levels),
                "NTS_PL_SIZE": str(1 << self.log2_hashmap_size)}

    to_config = HashGridEncoding.to_config


def _table_config(cls, section: dict, where: str) -> dict:
    """The level parameters shared by the table encodings (hash grid, permutohedral lattice)."""
    cfg = {"n_levels": take(section, "n_levels", int, cls.n_levels, where, lo=1, hi=32),
           "n_features_per_level": take(section, "n_features_per_level", int, cls.n_features_per_level, where,
                                        choices=(1, 2, 4, 8)),
           "log2_hashmap_size": take(section, "log2_hashmap_size", int, cls.log2_hashmap_size, where, lo=4, hi=24),
           "base_resolution": take(section, "base_resolution", int, cls.base_resolution, where, lo=1, hi=4096),
           "per_level_scale": take(section, "per_level_scale", float, cls.per_level_scale, where, lo=1.0, hi=4.0)}
    reject_unknown(section, where, ["otype", *cfg])
    if cfg["n_levels"] * cfg["n_features_per_level"] > 128:
        from .errors import StudioError
        raise StudioError(f"{where}: n_levels x n_features_per_level = "
                          f"{cfg['n_levels'] * cfg['n_features_per_level']} exceeds 128 inputs")
    return cfg


def encoding_from_config(section: object, where: str = "encoding") -> Encoding:
    if not isinstance(section, dict):
        from .errors import StudioError
        raise StudioError(f"{where} must be a JSON object with an \"otype\"")
    section = dict(section)
    _, cls = ENCODINGS.lookup(section.pop("otype", None))
    return cls.from_config(section, where)
