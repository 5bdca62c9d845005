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


def encoding_from_config(section: object, where: str = "encoding") -> Encoding:
    if not isinstance(section, dict):
        raise_type(where)
    section = dict(section)
    _, cls = ENCODINGS.lookup(section.pop("otype", None))
    return cls.from_config(section, where)


def raise_type(where: str):
    from .errors import StudioError
    raise StudioError(f"{where} must be a JSON object with an \"otype\"")
