"""JSON shown to a person: indented, yet compact where one line reads better."""

import json
from typing import Any


def pretty_json(value: Any, indent: int = 2, width: int = 88) -> str:
    """JSON indented for reading, with short arrays of scalars kept on one line: a box's
    `[x1, y1, x2, y2]` or a series reads as one line, not one number per line."""
    return _pretty(value, 0, indent, width)


def _pretty(value: Any, level: int, indent: int, width: int) -> str:
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        inline = json.dumps(value, ensure_ascii=False)
        if len(inline) + level * indent <= width:
            return inline
    if isinstance(value, dict) and value:
        pad = " " * (level + 1) * indent
        items = (
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_pretty(v, level + 1, indent, width)}"
            for k, v in value.items()
        )
        return "{\n" + ",\n".join(items) + "\n" + " " * level * indent + "}"
    if isinstance(value, list) and value:
        pad = " " * (level + 1) * indent
        items = (f"{pad}{_pretty(v, level + 1, indent, width)}" for v in value)
        return "[\n" + ",\n".join(items) + "\n" + " " * level * indent + "]"
    return json.dumps(value, ensure_ascii=False)
