"""FAQ entries and the file formats they are imported from."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from anyascii import anyascii

from retrieval.jsonl import DEFAULT_MAX_BYTES, InputFileError, read_jsonl_objects, read_text, split_lines

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_FIELD_CHARS = 20_000  # question, answer and each alternative phrasing
MAX_TAG_CHARS = 200
MAX_URL_CHARS = 2048  # faq_entries.url
MAX_SOURCE_CHARS = 1024  # faq_entries.source: the file's path
SIZE_SETTING = "SUPPORTBOT_MAX_IMPORT_FILE_MB"


@dataclass(frozen=True)
class FaqItem:
    id: str
    question: str
    answer: str
    alt_questions: tuple[str, ...] = ()
    url: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)
    # The id an earlier version gave this entry (legacy_slug), adopted on import where the index still
    # has it (retrieval/writes.py), so its learned phrasings and reviews stay with it.
    former_id: str | None = field(default=None, compare=False)

    @property
    def phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.alt_questions)

    def content_hash(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if k not in ("source", "former_id")}
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
    # Strip control characters that would poison prompts and Slack blocks (and NUL, which PostgreSQL
    # refuses in text); keep newlines and tabs.
    if _printable(text):
        return text.strip()
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def _printable(text: str) -> bool:
    """No control, format or unpaired surrogate characters other than newline and tab (in C, not a loop)."""
    return text.replace("\n", "").replace("\t", "").isprintable()


def _field_problems(item: FaqItem) -> list[str]:
    """Each field within its column's size and free of characters SQL or Slack would choke on: parsers
    already clean what they read, this holds for items made any other way too."""
    problems = []
    texts = [("id", item.id), ("question", item.question), ("answer", item.answer), ("url", item.url or "")]
    texts += [("alternative question", a) for a in item.alt_questions] + [("tag", t) for t in item.tags]
    for name, value in texts:
        if not _printable(value):
            problems.append(f"{name} contains control characters")
    for name, value, limit in [
        ("question", item.question, MAX_FIELD_CHARS),
        ("answer", item.answer, MAX_FIELD_CHARS),
        ("url", item.url or "", MAX_URL_CHARS),
        ("file path", item.source or "", MAX_SOURCE_CHARS),
        *(("alternative question", a, MAX_FIELD_CHARS) for a in item.alt_questions),
        *(("tag", t, MAX_TAG_CHARS) for t in item.tags),
    ]:
        if len(value) > limit:
            problems.append(f"{name} longer than {limit} characters")
    return list(dict.fromkeys(problems))


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
            hint = (
                " (give one an id of its own: '## Question {#my-id}')"
                if (item.source or "").endswith((".md", ".markdown"))
                else ""
            )
            problems.append(f"{where}: duplicate id {item.id!r} (first at {seen[item.id]}){hint}")
        else:
            seen[item.id] = where
        if not item.question:
            problems.append(f"{where}: empty question")
        if not item.answer:
            problems.append(f"{where}: empty answer")
        problems += [f"{where}: {p}" for p in _field_problems(item)]
        if item.url and not re.match(r"^https?://\S+$", item.url):
            problems.append(f"{where}: url {item.url!r} is not an http(s) URL")
        out.append(item)
    if problems:
        raise FaqFormatError(problems)
    return out


Located = list[tuple[str, FaqItem]]  # (file:line, item)


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        return read_text(path, max_bytes, setting=SIZE_SETTING)
    except InputFileError as exc:
        raise FaqFormatError([str(exc)]) from None


def _as_list(value: object, sep: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _split(_clean(value), sep)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(_clean(v) for v in value if _clean(v)))
    raise TypeError("must be a list of strings")


def parse_csv(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Located, list[str]]:
    """Columns ``id,question,answer`` and optional ``alt_questions`` (``|``-separated), ``url``, ``tags``."""
    # newline="": the csv module finds line ends itself (str.splitlines would also split at U+2028).
    reader = csv.DictReader(io.StringIO(_read_text(path, max_bytes), newline=""), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise FaqFormatError([f"{path}:1: {exc}"]) from exc
    missing = [c for c in ("id", "question", "answer") if c not in header]
    if missing:
        # Name what was found only when it looks like column names: the first line of some other file
        # (a wrong path) is not repeated.
        names = [h for h in header if re.fullmatch(r"[\w .-]{1,40}", h)][:20]
        others = len(header) - len(names)
        found = ", ".join(names) + (f"{' and ' if names else ''}{others} other(s)" if others else "")
        raise FaqFormatError([f"{path}:1: missing column(s) {', '.join(missing)}; found {found or 'none'}"])
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


def parse_jsonl(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Located, list[str]]:
    """One JSON object per line with the CSV's keys; ``alt_questions`` and ``tags`` are lists."""
    try:
        objects, problems = read_jsonl_objects(path, max_bytes, setting=SIZE_SETTING)
    except InputFileError as exc:
        raise FaqFormatError([str(exc)]) from None
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


def _syllable(char: str) -> bool:
    """A Chinese character or a Korean syllable block: a syllable (often a word) of its own."""
    return unicodedata.name(char, "").startswith(
        ("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HANGUL SYLLABLE")
    )


def slugify(text: str) -> str:
    """An ASCII id (ID_PATTERN) from a heading in any script: transliterated by anyascii (ändere ->
    andere, Straße -> strasse, Как -> kak, 重置 -> zhong-zhi), lower-cased, every run of anything but
    letters and digits one hyphen. Ids must stay ASCII (Slack block ids, URLs, the CLI), and keeping
    only ASCII letters gave every Chinese heading the same id ("entry") and refused such a FAQ."""
    spaced = "".join(f" {c} " if _syllable(c) else c for c in text)
    return re.sub(r"[^a-z0-9]+", "-", anyascii(spaced).lower()).strip("-")[:96] or "entry"


def legacy_slug(text: str) -> str:
    """The id slugify gave before it transliterated (ASCII letters kept, the rest dropped): an index
    imported then knows its entries by these, and keeps them (FaqItem.former_id)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:96] or "entry"


def parse_markdown(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Located, list[str]]:
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
                    id=_clean(current["id"]),
                    question=_clean(current["q"]),
                    answer=_clean(body),
                    alt_questions=_split(_clean(current["alt"]), "|"),
                    url=_clean(current["url"]) or None,
                    tags=_split(_clean(current["tags"]), ","),
                    source=str(path),
                    # only while the id is the heading's slug (no {#id}, no <!-- id: --> line)
                    former_id=current["former_id"] if current["id"] == slugify(current["q"]) else None,
                ),
            )
        )

    for n, line in enumerate(split_lines(_read_text(path, max_bytes)), start=1):
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
                "former_id": None if heading["id"] or legacy_slug(q) == slugify(q) else legacy_slug(q),
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


def faq_files(path: Path) -> tuple[list[Path], list[str]]:
    """The FAQ files of a directory, sorted, and a problem for each symbolic link that leads out of it.

    A link whose target lies inside the directory is followed (it is the folder's own content; a link
    to a file that is read anyway is skipped); a link out of it is never read, so a FAQ folder from
    elsewhere cannot make the import read, or quote in an error, a file of this machine.
    Hidden files and folders are skipped. A file (not a directory) is returned as it is."""
    if not path.is_dir():
        return [path], []
    root = path.resolve()
    problems: list[str] = []
    files: list[Path] = []
    links: list[tuple[Path, Path]] = []  # (link as found, its target)
    # os.walk does not enter linked directories (followlinks=False); those are checked here instead.
    for dirpath, dirnames, filenames in os.walk(
        path, onerror=lambda exc: problems.append(f"{exc.filename}: cannot be listed ({exc.strerror})")
    ):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)
                if not (here / d).resolve().is_relative_to(root):
                    problems.append(f"{here / d}: a link to a directory outside {path}; not read")
        for name in sorted(filenames):
            p = here / name
            if name.startswith(".") or p.suffix.lower() not in PARSERS:
                continue
            if p.is_symlink():
                target = p.resolve()
                if not target.is_relative_to(root):
                    problems.append(
                        f"{p}: a link to a file outside {path}; not read (copy the file in instead)"
                    )
                elif not target.exists():
                    problems.append(f"{p}: a link to nothing")
                else:
                    links.append((p, target))
            else:
                files.append(p)
    real = {p.resolve() for p in files}
    files += [link for link, target in links if target not in real]
    return sorted(files), problems


def load_faq(path: str | Path, max_file_bytes: int = DEFAULT_MAX_BYTES) -> list[FaqItem]:
    """Parse a FAQ file, or every FAQ file in a directory, and validate them together. No file larger
    than ``max_file_bytes`` is read.

    Raises FaqFormatError listing every problem (file:line); nothing is returned half-valid.
    """
    path = Path(path)
    if not path.exists():
        raise FaqFormatError([f"{path}: no such file or directory"])
    files, problems = faq_files(path)
    if not files and not problems:
        raise FaqFormatError([f"{path}: no FAQ files ({', '.join(PARSERS)}) in this directory"])
    located: Located = []
    for f in files:
        parser = PARSERS.get(f.suffix.lower())
        if parser is None:
            raise FaqFormatError(
                [f"{f}: unsupported format {f.suffix!r}; expected one of {', '.join(PARSERS)}"]
            )
        try:
            got, bad = parser(f, max_file_bytes)
        except FaqFormatError as exc:
            problems += exc.problems
            continue
        located += got
        problems += bad
    items = validate_items(located, problems)
    if not items:
        raise FaqFormatError([f"{path}: no FAQ entries"])
    return items
