"""Name -> component registries and strict config-section parsing shared by every family."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable

from .errors import StudioError
from .jsonfile import shown


def normalise_name(name: str) -> str:
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


class Registry:
    """Maps otype names (case, '_' and '-' insensitive, with aliases) to factories for one family."""

    def __init__(self, family: str):
        self.family = family
        self._entries: dict[str, tuple[str, Callable[..., Any]]] = {}
        self._docs: dict[str, tuple[str, tuple[str, ...]]] = {}  # name -> (doc, aliases)

    def register(self, name: str, *aliases: str, doc: str = ""):
        """Registers ``factory`` under ``name`` and ``aliases``; ``doc`` (default: a class's docstring) is what
        the README's preset reference says of it."""
        def wrap(factory):
            for n in (name, *aliases):
                self._entries[normalise_name(n)] = (name, factory)
            if not isinstance(factory, str):
                factory.otype = name
            text = doc or ("" if isinstance(factory, str) else (factory.__doc__ or ""))
            self._docs[name] = (" ".join(text.split()), aliases)
            return factory
        return wrap

    def names(self) -> list[str]:
        return sorted({canonical for canonical, _ in self._entries.values()})

    def names_in_order(self) -> list[str]:
        """Canonical names in registration order (the order the documentation lists them)."""
        return list(self._docs)

    def doc(self, name: str) -> str:
        return self._docs[name][0]

    def aliases(self, name: str) -> tuple[str, ...]:
        return self._docs[name][1]

    def lookup(self, name: Any) -> tuple[str, Callable[..., Any]]:
        if not isinstance(name, str) or normalise_name(name) not in self._entries:
            raise StudioError(f"unknown {self.family} {shown(name)}; choose one of: {', '.join(self.names())}")
        return self._entries[normalise_name(name)]


def expect_object(section: object, where: str) -> dict:
    """A copy of a config section that must be a JSON object (``take`` consumes its keys)."""
    if not isinstance(section, dict):
        raise StudioError(f"{where} must be a JSON object, not {type(section).__name__}")
    return dict(section)


def take(section: dict, key: str, kind: type | tuple, default: Any, where: str,
         lo: float | None = None, hi: float | None = None, choices: tuple | None = None) -> Any:
    """Reads one key of a config section, checking its type and range; removes it from ``section``."""
    if key not in section:
        return default
    value = section.pop(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise StudioError(f"{where}.{key} must be {_kind_name(kinds)}, not {shown(value)}")
    if not isinstance(value, kinds):
        raise StudioError(f"{where}.{key} must be {_kind_name(kinds)}, not {shown(value)}")
    if choices is not None and value not in choices:
        raise StudioError(f"{where}.{key} must be one of {', '.join(map(str, choices))}, not {shown(value)}")
    if lo is not None and not value >= lo or hi is not None and not value <= hi:  # NaN fails both
        raise StudioError(f"{where}.{key} = {shown(value)} is out of range [{lo}, {hi}]")
    return value


def reject_unknown(section: dict, where: str, known: list[str]) -> None:
    if section:
        extra = ", ".join(k if k.isprintable() else repr(k) for k in sorted(map(str, section)))
        extra = extra if len(extra) <= 200 else extra[:197] + "..."
        raise StudioError(f"{where}: unknown key(s) {extra}; known keys: {', '.join(known)}")


def _kind_name(kinds: tuple) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list",
             tuple: "a list", dict: "a JSON object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


# ---- config sections declared once ----
# A section is a frozen dataclass whose fields carry their rules in ``setting(...)``; parsing, checking,
# writing back, command-line flags and UI widgets all read the same declaration (``settings_of``).

@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: Callable[[], tuple] | None = None  # allowed values, asked when parsing (registries fill late)
    parse: Callable[[Any, str], Any] | None = None  # (value, where) -> canonical value, e.g. activation aliases
    doc: str = ""
    flag: str | None = None       # the `train` command-line option that sets it
    otypes: tuple[str, ...] = ()  # the otypes it applies to (empty: all)
    define: str | None = None     # the Slang define that carries it into shaders (encodings)

    def applies_to(self, otype: str | None) -> bool:
        return not self.otypes or otype in self.otypes


_KINDS = {"int": int, "float": float, "bool": bool, "str": str, "tuple": (list, tuple)}  # JSON gives lists


def setting(default, *, lo=None, hi=None, choices=None, parse=None, doc="", flag=None, otypes=(), define=None,
            kind=None):
    """A dataclass field declared with its range, documentation, command-line flag, otypes and Slang define.
    ``kind``: the JSON type when it is not the field's (dict: a nested section that ``parse`` turns into its
    class)."""
    return field(default=default, metadata={"setting": dict(lo=lo, hi=hi, choices=choices, parse=parse, doc=doc,
                                                            flag=flag, otypes=tuple(otypes), define=define),
                                            "kind": kind})


def settings_of(cls, otype: str | None = None) -> list[Setting]:
    """The declared settings of a section class (those of ``otype`` when given), in declaration order."""
    out = []
    for f in fields(cls):
        if "setting" in f.metadata:
            kind = f.metadata.get("kind") or (_KINDS[f.type] if isinstance(f.type, str) else f.type)
            s = Setting(f.name, kind, f.default, **f.metadata["setting"])
            if otype is None or s.applies_to(otype):
                out.append(s)
    return out


def parse_settings(cls, section: dict, where: str, otype: str | None = None, extra_keys: tuple = ()) -> dict:
    """Values of ``cls``'s settings (of ``otype``) from a config section; unknown keys are errors."""
    values = {}
    for s in settings_of(cls, otype):
        choices = s.choices() if s.choices else None
        value = take(section, s.name, s.kind, s.default, where, lo=s.lo, hi=s.hi, choices=choices)
        values[s.name] = s.parse(value, f"{where}.{s.name}") if s.parse else value
    reject_unknown(section, where, [*extra_keys, *(s.name for s in settings_of(cls, otype))])
    return values
