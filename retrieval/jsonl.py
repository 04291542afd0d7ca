"""Reading JSON Lines files with errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path


def read_jsonl_objects(path: Path) -> tuple[list[tuple[str, dict]], list[str]]:
    """``(file:line, object)`` for each non-blank line holding a JSON object, and one problem per
    line that does not. Raises OSError/UnicodeDecodeError if the file itself cannot be read."""
    objects: list[tuple[str, dict]] = []
    problems: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        where = f"{path}:{n}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        objects.append((where, obj))
    return objects, problems
