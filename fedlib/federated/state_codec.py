"""Nested state as JSON plus named arrays: a format that, unlike a pickle, runs no code when read.

:func:`encode_state` splits a tree of dicts (string keys), lists, tuples, scalars and NumPy arrays
into a JSON-ready tree and a flat ``{name: array}`` dict for safetensors; :func:`decode_state`
puts them back together. The round trip is exact: arrays keep dtype, shape and bytes, tuples stay
tuples (``random.getstate()`` must be one), dict order is kept, floats survive JSON unchanged.

In the JSON tree an array is ``{"$array": name}`` and a tuple ``{"$tuple": [...]}``; an array's name
is its path in the tree (``best/arrays/prompt_encoder.weight``), which keeps the safetensors file
readable on its own.
"""

from __future__ import annotations

import numpy as np

ARRAY_TAG = "$array"
TUPLE_TAG = "$tuple"


def encode_state(state) -> tuple[object, dict[str, np.ndarray]]:
    """``state`` as (JSON-ready tree, arrays by name)."""
    arrays: dict[str, np.ndarray] = {}

    def encode(value, path: tuple[str, ...]):
        if isinstance(value, np.ndarray):
            name = "/".join(path)
            if name in arrays:
                raise ValueError(f"two arrays would share the name {name!r}")
            arrays[name] = np.ascontiguousarray(value)  # safetensors stores dense buffers only
            return {ARRAY_TAG: name}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            for key in value:
                if not isinstance(key, str) or key.startswith("$"):
                    raise TypeError(f"cannot store the key {key!r} at {'/'.join(path) or 'the top'}: "
                                    "keys must be strings not starting with '$'")
            return {key: encode(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, tuple):
            return {TUPLE_TAG: [encode(item, (*path, str(i))) for i, item in enumerate(value)]}
        if isinstance(value, list):
            return [encode(item, (*path, str(i))) for i, item in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(f"cannot store a {type(value).__name__} at {'/'.join(path)}")

    return encode(state, ()), arrays


def decode_state(tree, arrays: dict[str, np.ndarray]):
    """The state :func:`encode_state` split into ``tree`` and ``arrays``; every array a fresh, writable copy."""
    if isinstance(tree, dict):
        if ARRAY_TAG in tree:
            return np.array(arrays[tree[ARRAY_TAG]], copy=True)
        if TUPLE_TAG in tree:
            return tuple(decode_state(item, arrays) for item in tree[TUPLE_TAG])
        return {key: decode_state(item, arrays) for key, item in tree.items()}
    if isinstance(tree, list):
        return [decode_state(item, arrays) for item in tree]
    return tree
