"""Reading the files users import (FAQ files, transcripts, evaluation sets): bounded in size, decoded as
UTF-8, with errors that name the file and line and never quote what is in it."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # SUPPORTBOT_MAX_IMPORT_FILE_MB's default
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL_BYTES = [bytes([b]) for b in (*range(0, 9), 11, 14, *range(15, 32), 127)]


class InputFileError(OSError):
    """A file that cannot be read as import text: missing, not a regular file, too large, not UTF-8.
    An OSError, so callers that already handle unreadable files handle these too."""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


def _not_text(data: bytes) -> str | None:
    """Why ``data`` is not UTF-8 text, in words a user can act on; None if it is."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "not UTF-8 text (looks like UTF-32); save it as UTF-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "not UTF-8 text (looks like UTF-16); save it as UTF-8"
    sample = data[:4096]
    nuls = sample.count(0)
    if nuls and nuls >= len(sample) // 8:
        # UTF-16 text of mostly ASCII has a NUL in every other byte, all at even or all at odd offsets.
        # (A stray NUL or two in a text file is left to the parsers, which drop control characters.)
        even = sample[0::2].count(0)
        if nuls >= len(sample) // 4 and max(even, nuls - even) >= 0.9 * nuls:
            return "not UTF-8 text (looks like UTF-16); save it as UTF-8"
        return "not text (looks like a binary file)"
    return None


def read_text(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *, setting: str | None = None) -> str:
    """The whole of a regular file as text, at most ``max_bytes`` long (checked before reading, and
    again while reading in case it grows). A UTF-8 byte-order mark is dropped.

    Raises InputFileError naming the file. ``setting`` names what sets the limit, for the message.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like any non-file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except PermissionError:
        raise InputFileError(f"{path}: not readable (permission denied)") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)  # before fdopen, which refuses a directory with an error of its own
        if stat.S_ISDIR(st.st_mode):
            raise InputFileError(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{path}: not a regular file")
        limit = f"the {_mb(max_bytes)} limit" + (f" ({setting})" if setting else "")
        if st.st_size > max_bytes:
            raise InputFileError(f"{path}: {_mb(st.st_size)}, over {limit}")
        # What stat says plus one byte (read(n) allocates n up front); a file that grew since (or
        # reports no size, as /proc does) is read on, up to one byte over the limit.
        data = os.read(fd, st.st_size + 1)
        while st.st_size < len(data) <= max_bytes and (more := os.read(fd, 1 << 16)):
            data += more
    except OSError as exc:
        if isinstance(exc, InputFileError):
            raise
        raise InputFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputFileError(f"{path}: over {limit}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    problem = _not_text(data)
    if problem:
        raise InputFileError(f"{path}: {problem}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        sample = data[:4096]
        control = sum(sample.count(b) for b in _CONTROL_BYTES)
        if control * 20 >= len(sample):  # text in another encoding has next to none
            raise InputFileError(f"{path}: not text (looks like a binary file)") from None
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputFileError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines as editors count them: split at \\n, \\r\\n or \\r only. str.splitlines also splits at
    U+2028, U+0085 and form feeds, which JSON allows inside strings and editors do not count."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_jsonl_objects(
    path: Path, max_bytes: int = DEFAULT_MAX_BYTES, *, setting: str | None = None
) -> tuple[list[tuple[str, dict]], list[str]]:
    """``(file:line, object)`` for each non-blank line holding a JSON object, and one problem per
    line that does not. Raises InputFileError (an OSError) if the file itself cannot be read."""
    objects: list[tuple[str, dict]] = []
    problems: list[str] = []
    for n, line in enumerate(split_lines(read_text(path, max_bytes, setting=setting)), start=1):
        where = f"{path}:{n}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except ValueError:  # an integer of more than 4300 digits (int_max_str_digits)
            problems.append(f"{where}: invalid JSON (a number too long)")
            continue
        except RecursionError:  # [[[[... nested deeper than the parser's stack
            problems.append(f"{where}: invalid JSON (nested too deeply)")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        objects.append((where, obj))
    return objects, problems
