"""FAQ entries and the file formats they are imported from."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_FIELD_CHARS = 20_000


@dataclass(frozen=True)
class FaqItem:
    id: str
    question: str
    answer: str
    alt_questions: tuple[str, ...] = ()
    url: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    @property
    def phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.alt_questions)

    def content_hash(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if k != "source"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class FaqFormatError(ValueError):
    """A FAQ file that cannot be imported. Lists every problem found, each with file and line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__("\n".join(shown))


def _split(value: str | None, sep: str) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in value.split(sep) if p.strip()))


def _clean(text: str) -> str:
    # Strip control characters that would poison prompts and Slack blocks; keep newlines and tabs.
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def validate_items(items: Iterable[tuple[str, FaqItem]], problems: list[str] | None = None) -> list[FaqItem]:
    """Check a parsed file as a whole: ids valid and unique, required fields present.

    ``problems`` already found while parsing are reported together with these, in one error.
    """
    problems = list(problems or [])
    seen: dict[str, str] = {}
    out: list[FaqItem] = []
    for where, item in items:
        if not item.id:
            problems.append(f"{where}: missing id")
        elif not ID_PATTERN.match(item.id):
            problems.append(f"{where}: id {item.id!r} must be 1-128 characters of letters, digits and ._:/-")
        elif item.id in seen:
            problems.append(f"{where}: duplicate id {item.id!r} (first at {seen[item.id]})")
        else:
            seen[item.id] = where
        if not item.question:
            problems.append(f"{where}: empty question")
        if not item.answer:
            problems.append(f"{where}: empty answer")
        for name in ("question", "answer"):
            if len(getattr(item, name)) > MAX_FIELD_CHARS:
                problems.append(f"{where}: {name} longer than {MAX_FIELD_CHARS} characters")
        if item.url and not re.match(r"^https?://\S+$", item.url):
            problems.append(f"{where}: url {item.url!r} is not an http(s) URL")
        out.append(item)
    if problems:
        raise FaqFormatError(problems)
    return out


def parse_csv(path: Path) -> list[FaqItem]:
    """Columns ``id,question,answer`` and optional ``alt_questions`` (``|``-separated), ``url``, ``tags``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FaqFormatError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise FaqFormatError([f"{path}:1: {exc}"]) from exc
    missing = [c for c in ("id", "question", "answer") if c not in header]
    if missing:
        raise FaqFormatError([f"{path}:1: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}"])
    reader.fieldnames = header
    items: list[tuple[str, FaqItem]] = []
    problems: list[str] = []
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:  # more cells than headers
                problems.append(f"{where}: {len(row[None])} cell(s) beyond the {len(header)} columns")
                continue
            if all(not (v or "").strip() for v in row.values()):
                continue  # blank line
            get = lambda k: _clean(row.get(k) or "")  # noqa: E731
            items.append((where, FaqItem(
                id=get("id"), question=get("question"), answer=get("answer"),
                alt_questions=_split(get("alt_questions"), "|"), url=get("url") or None,
                tags=_split(get("tags").replace("|", ","), ","), source=str(path),
            )))
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: {exc}")
    return validate_items(items, problems)


PARSERS = {".csv": parse_csv}


def load_faq(path: str | Path) -> list[FaqItem]:
    path = Path(path)
    if not path.exists():
        raise FaqFormatError([f"{path}: no such file"])
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise FaqFormatError([f"{path}: unsupported format {path.suffix!r}; expected one of {', '.join(PARSERS)}"])
    items = parser(path)
    if not items:
        raise FaqFormatError([f"{path}: no FAQ entries"])
    return items
