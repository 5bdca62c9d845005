"""Shared pieces of the fuzz tests: hypothesis settings with a long mode, and mutations of bytes and of
JSON trees. NTS_FUZZ_LONG=1 runs at least LONG_EXAMPLES cases per loader (the README records a run)."""
import json
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

LONG = os.environ.get("NTS_FUZZ_LONG", "") not in ("", "0")
LONG_EXAMPLES = 10_000


def fuzz_settings(examples: int) -> settings:
    """``examples`` cases per test, at least LONG_EXAMPLES in the long mode; deterministic either way."""
    return settings(max_examples=max(examples, LONG_EXAMPLES) if LONG else examples, deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


INTERESTING = [0, 1, 2, 3, 4, 7, 8, 9, 12, 16, 63, 64, 65, 128, 304, 1024, 2 ** 15, 2 ** 16, 2 ** 31 - 1, 2 ** 31,
               2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8)


@st.composite
def byte_mutations(draw, seed: bytes, fields: list) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "extend", "flip", "byte", "field", "splice", "insert", "delete"]))
        n = len(data)
        if op == "truncate":
            data = data[:draw(st.integers(0, n))]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
        elif op in ("flip", "byte") and n:
            at = draw(st.integers(0, n - 1))
            data[at] = data[at] ^ (1 << draw(st.integers(0, 7))) if op == "flip" else draw(st.integers(0, 255))
        elif op == "field" and fields:
            at, size = draw(st.sampled_from(fields))
            value = draw(st.sampled_from(INTERESTING) | st.integers(0, 2 ** 64 - 1)) % (1 << (8 * size))
            if at + size <= n:
                data[at:at + size] = value.to_bytes(size, "little")
        elif op == "splice" and n:
            a, b = sorted(draw(st.tuples(st.integers(0, n), st.integers(0, n))))
            at = draw(st.integers(0, n))
            data[at:at + (b - a)] = data[a:b]
        elif op == "insert":
            at = draw(st.integers(0, n))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            a, b = sorted(draw(st.tuples(st.integers(0, n), st.integers(0, n))))
            del data[a:b]
    return bytes(data)


def mutate_tree(draw, node, depth=0):
    """A copy of a JSON tree with one node replaced, deleted or given a new key."""
    if isinstance(node, (dict, list)) and node and depth < 6 and draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        copy = dict(node) if isinstance(node, dict) else list(node)
        copy[key] = mutate_tree(draw, node[key], depth + 1)
        return copy
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(node, (dict, list)) and node:
        copy = dict(node) if isinstance(node, dict) else list(node)
        del copy[draw(st.sampled_from(list(copy) if isinstance(copy, dict) else list(range(len(copy)))))]
        return copy
    if action == "add" and isinstance(node, dict):
        return {**node, draw(st.text(max_size=8)): draw(json_values)}
    return draw(json_values)


@st.composite
def json_mutations(draw, seed: bytes) -> bytes:
    if draw(st.booleans()):
        return draw(byte_mutations(seed, []))
    doc = mutate_tree(draw, json.loads(seed))
    return json.dumps(doc).encode()
