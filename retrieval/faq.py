"""FAQ entries and the file formats they are imported from."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retrieval.jsonl import read_jsonl_objects

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


Located = list[tuple[str, FaqItem]]  # (file:line, item)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FaqFormatError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc


def _as_list(value: object, sep: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _split(_clean(value), sep)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(_clean(v) for v in value if _clean(v)))
    raise TypeError("must be a list of strings")


def parse_csv(path: Path) -> tuple[Located, list[str]]:
    """Columns ``id,question,answer`` and optional ``alt_questions`` (``|``-separated), ``url``, ``tags``."""
    reader = csv.DictReader(_read_text(path).splitlines(keepends=True), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise FaqFormatError([f"{path}:1: {exc}"]) from exc
    missing = [c for c in ("id", "question", "answer") if c not in header]
    if missing:
        raise FaqFormatError(
            [f"{path}:1: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}"]
        )
    reader.fieldnames = header
    items: Located = []
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
            items.append(
                (
                    where,
                    FaqItem(
                        id=get("id"),
                        question=get("question"),
                        answer=get("answer"),
                        alt_questions=_split(get("alt_questions"), "|"),
                        url=get("url") or None,
                        tags=_split(get("tags").replace("|", ","), ","),
                        source=str(path),
                    ),
                )
            )
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: {exc}")
    return items, problems


JSONL_KEYS = {"id", "question", "answer", "alt_questions", "url", "tags"}


def parse_jsonl(path: Path) -> tuple[Located, list[str]]:
    """One JSON object per line with the CSV's keys; ``alt_questions`` and ``tags`` are lists."""
    try:
        objects, problems = read_jsonl_objects(path)
    except UnicodeDecodeError as exc:
        raise FaqFormatError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    items: Located = []
    for where, obj in objects:
        unknown = sorted(set(obj) - JSONL_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
            continue
        try:
            fields = {}
            for key in ("id", "question", "answer", "url"):
                value = obj.get(key)
                if key == "id" and isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"{key} must be a string")
                fields[key] = _clean(value or "")
            alts = _as_list(obj.get("alt_questions"), "|")
            tags = _as_list(obj.get("tags"), ",")
        except TypeError as exc:
            problems.append(f"{where}: {exc}")
            continue
        items.append(
            (
                where,
                FaqItem(
                    id=fields["id"],
                    question=fields["question"],
                    answer=fields["answer"],
                    alt_questions=alts,
                    url=fields["url"] or None,
                    tags=tags,
                    source=str(path),
                ),
            )
        )
    return items, problems


_HEADING = re.compile(r"^##\s+(?P<q>.+?)(?:\s+\{#(?P<id>[^}\s]+)\})?\s*#*\s*$")
_META = re.compile(r"^<!--\s*(?P<key>alt|alt_questions|url|tags|id)\s*:\s*(?P<value>.*?)\s*-->\s*$", re.I)
_FENCE = re.compile(r"^\s*(```|~~~)")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:96] or "entry"


def parse_markdown(path: Path) -> tuple[Located, list[str]]:
    """``## Question`` starts an entry and its body is the answer. Optional, right under the heading:
    ``<!-- alt: other phrasing | another -->``, ``<!-- url: https://... -->``, ``<!-- tags: a, b -->``.
    The id is ``{#id}`` at the end of the heading, else a slug of the question."""
    items: Located = []
    problems: list[str] = []
    current: dict | None = None
    in_fence = False

    def finish() -> None:
        if current is None:
            return
        body = "\n".join(current["body"]).strip()
        items.append(
            (
                current["where"],
                FaqItem(
                    id=current["id"],
                    question=_clean(current["q"]),
                    answer=_clean(body),
                    alt_questions=_split(current["alt"], "|"),
                    url=current["url"] or None,
                    tags=_split(current["tags"], ","),
                    source=str(path),
                ),
            )
        )

    for n, line in enumerate(_read_text(path).splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and not line.startswith("###"):
            finish()
            q = heading["q"].strip()
            current = {
                "where": f"{path}:{n}",
                "q": q,
                "id": heading["id"] or slugify(q),
                "alt": "",
                "url": "",
                "tags": "",
                "body": [],
                "meta_open": True,
            }
            continue
        if current is None:
            continue  # title and intro before the first entry
        meta = _META.match(line) if current["meta_open"] else None
        if meta:
            key = {"alt_questions": "alt"}.get(meta["key"].lower(), meta["key"].lower())
            current[key] = meta["value"]
            continue
        if line.strip():
            current["meta_open"] = False
        current["body"].append(line)
    finish()
    if not items:
        problems.append(f"{path}: no '## question' headings found")
    return items, problems


PARSERS = {".csv": parse_csv, ".jsonl": parse_jsonl, ".md": parse_markdown, ".markdown": parse_markdown}


def faq_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in PARSERS
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    return [path]


def load_faq(path: str | Path) -> list[FaqItem]:
    """Parse a FAQ file, or every FAQ file in a directory, and validate them together.

    Raises FaqFormatError listing every problem (file:line); nothing is returned half-valid.
    """
    path = Path(path)
    if not path.exists():
        raise FaqFormatError([f"{path}: no such file or directory"])
    files = faq_files(path)
    if not files:
        raise FaqFormatError([f"{path}: no FAQ files ({', '.join(PARSERS)}) in this directory"])
    located: Located = []
    problems: list[str] = []
    for f in files:
        parser = PARSERS.get(f.suffix.lower())
        if parser is None:
            raise FaqFormatError(
                [f"{f}: unsupported format {f.suffix!r}; expected one of {', '.join(PARSERS)}"]
            )
        try:
            got, bad = parser(f)
        except FaqFormatError as exc:
            problems += exc.problems
            continue
        located += got
        problems += bad
    items = validate_items(located, problems)
    if not items:
        raise FaqFormatError([f"{path}: no FAQ entries"])
    return items
