"""What a FAQ folder or file can make the import read: nothing outside the folder (symbolic links out
are refused by name, never read or quoted), no file over the size limit (refused from its size, before
a byte is read), nothing that is not a regular file, and no text that is not UTF-8."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
import sqlalchemy as sa

from retrieval.faq import FaqFormatError, load_faq
from retrieval.jsonl import DEFAULT_MAX_BYTES, InputFileError, read_text

MIB = 1024 * 1024
SECRET_LINE = "id,question,answer\ntopsecret,What is the root password?,hunter2-TOPSECRET\n"


def faq_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "hr.csv").write_text("id,question,answer\nleave,How do I request leave?,In Personio.\n")
    return folder


def outside(tmp_path: Path, name: str = "secret.csv", text: str = SECRET_LINE) -> Path:
    d = tmp_path / "elsewhere"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d / name


def refusal(path: Path, limit: int = DEFAULT_MAX_BYTES) -> str:
    with pytest.raises(FaqFormatError) as exc:
        load_faq(path, limit)
    return str(exc.value)


def test_a_link_to_a_file_outside_the_folder_is_refused_by_name_and_never_read(tmp_path):
    folder = faq_folder(tmp_path)
    (folder / "innocent.csv").symlink_to(outside(tmp_path))
    (folder / "passwd.csv").symlink_to("/etc/passwd")
    message = refusal(folder)
    assert f"{folder / 'innocent.csv'}: a link to a file outside {folder}; not read" in message
    assert f"{folder / 'passwd.csv'}: a link to a file outside {folder}; not read" in message
    assert "TOPSECRET" not in message and "root:" not in message and "hunter2" not in message


def test_a_link_out_to_a_huge_file_is_refused_without_reading_it(tmp_path):
    folder = faq_folder(tmp_path)
    huge = tmp_path / "elsewhere" / "huge.csv"
    huge.parent.mkdir()
    with open(huge, "wb") as fh:
        fh.truncate(200 * MIB)  # sparse: 200 MB by its size, no disk
    (folder / "huge.csv").symlink_to(huge)
    tracemalloc.start()
    started = time.monotonic()
    message = refusal(folder)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert f"{folder / 'huge.csv'}: a link to a file outside" in message
    assert elapsed < 2 and peak < 10 * MIB  # read whole, it took a minute and 2.4 GB


def test_a_linked_directory_outside_is_refused_one_inside_is_not_read_twice(tmp_path):
    folder = faq_folder(tmp_path)
    outside(tmp_path)
    (folder / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    message = refusal(folder)
    assert f"{folder / 'more'}: a link to a directory outside {folder}; not read" in message
    assert "TOPSECRET" not in message

    (folder / "more").unlink()
    (folder / "it").mkdir()
    (folder / "it" / "vpn.csv").write_text("id,question,answer\nvpn,How do I use the VPN?,Open the app.\n")
    (folder / "it-again").symlink_to(folder / "it", target_is_directory=True)
    assert sorted(i.id for i in load_faq(folder)) == ["leave", "vpn"]  # not a duplicate id


def test_links_inside_the_folder_are_followed_once(tmp_path):
    """A link whose target is in the folder is the folder's own content: followed (here to a hidden
    file, which would be skipped otherwise), and a link to a file read anyway is skipped."""
    folder = faq_folder(tmp_path)
    (folder / "current.csv").symlink_to(folder / "hr.csv")
    (folder / ".drafts").mkdir()
    (folder / ".drafts" / "gym.md").write_text("## Where is the gym?\nFloor 3.\n")
    (folder / "gym.md").symlink_to(Path(".drafts") / "gym.md")
    items = load_faq(folder)
    assert sorted(i.id for i in items) == ["leave", "where-is-the-gym"]
    assert {i.id: i.source for i in items}["where-is-the-gym"] == str(folder / "gym.md")


def test_a_broken_link_is_named(tmp_path):
    folder = faq_folder(tmp_path)
    (folder / "gone.csv").symlink_to(folder / "nothing-here.csv")
    assert f"{folder / 'gone.csv'}: a link to nothing" in refusal(folder)


@pytest.mark.parametrize("where", ["in a folder", "named alone"])
def test_a_file_over_the_limit_is_refused_from_its_size(tmp_path, where):
    folder = faq_folder(tmp_path)
    big = folder / "big.jsonl"
    with open(big, "wb") as fh:
        fh.truncate(200 * MIB)
    tracemalloc.start()
    started = time.monotonic()
    message = refusal(folder if where == "in a folder" else big)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert f"{big}: 200 MB, over the 20 MB limit (SUPPORTBOT_MAX_IMPORT_FILE_MB)" in message
    assert elapsed < 2 and peak < 10 * MIB


def test_the_limit_is_the_callers(tmp_path):
    folder = faq_folder(tmp_path)
    (folder / "hr.csv").write_text(
        "id,question,answer\n" + "".join(f"e{i},Q{i}?,A{i}.\n" for i in range(50000))
    )
    assert len(load_faq(folder)) == 50000
    assert "over the 0.5 MB limit" in refusal(folder, MIB // 2)


def test_what_is_not_a_regular_file_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "faq.csv"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    assert f"{fifo}: not a regular file" in refusal(fifo)
    with pytest.raises(InputFileError, match="is a directory, not a file"):
        read_text(tmp_path)
    secret = tmp_path / "locked.csv"
    secret.write_text("x")
    secret.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        with pytest.raises(InputFileError, match="not readable"):
            read_text(secret)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("id,question,answer\nq,Q?,A.\n".encode("utf-16"), "not UTF-8 text (looks like UTF-16)"),
        ("id,question,answer\nq,Q?,A.\n".encode("utf-16-le"), "not UTF-8 text (looks like UTF-16)"),
        ("id,question,answer\nq,Q?,A.\n".encode("utf-32"), "not UTF-8 text (looks like UTF-32)"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "not text (looks like a binary file)"),
        ("id,question,answer\nq,Qué?,Sí\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 2)"),
    ],
    ids=["utf-16", "utf-16 without BOM", "utf-32", "binary", "latin-1"],
)
def test_files_that_are_not_utf8_are_named_with_what_they_look_like(tmp_path, content, why):
    for name in ("faq.csv", "faq.jsonl", "faq.md"):
        p = tmp_path / name
        p.write_bytes(content)
        assert f"{p}: {why}" in refusal(p)


def test_line_separators_inside_fields_do_not_split_lines(tmp_path):
    """U+2028 and U+0085 are text in CSV and JSON; str.splitlines would break a line at them."""
    csv = tmp_path / "faq.csv"
    csv.write_text("id,question,answer\nq1,First\u2028question?,Line one\u0085line two.\nq2,Q2?,A2.\n")
    jsonl = tmp_path / "faq.jsonl"
    jsonl.write_text('{"id": "j1", "question": "J\u2028one?", "answer": "A."}\n')
    assert [i.id for i in load_faq(csv)] == ["q1", "q2"] and [i.id for i in load_faq(jsonl)] == ["j1"]


def test_no_field_of_any_format_carries_control_characters(tmp_path):
    """What PostgreSQL refuses in text (NUL) or would poison prompts never reaches an entry, in any
    field of any format (Markdown's alt, url and tags lines included)."""
    (tmp_path / "a.md").write_text(
        "## Where\x07 is the gym?\n"
        "<!-- alt: gym\x00 location | the\x1b[31m gym -->\n"
        "<!-- url: https://x.example/gym\x00 -->\n"
        "<!-- tags: sp\x00ort, fit\x7fness -->\n"
        "Floor\x00 3.\n"
    )
    (tmp_path / "b.jsonl").write_text(
        '{"id": "b\\u0000", "question": "Q\\u0000?", "answer": "A\\u0000.", "alt_questions": ["x\\u0000y"], '
        '"tags": ["t\\u0000"], "url": "https://x.example/\\u0000"}\n'
    )
    (tmp_path / "c.csv").write_text(
        "id,question,answer,alt_questions,tags\nc\x00,Q\x00?,A\x01.,x\x00|y,t\x00\n"
    )
    items = load_faq(tmp_path)
    assert len(items) == 3
    for item in items:
        fields = [item.id, item.question, item.answer, item.url or "", *item.alt_questions, *item.tags]
        assert all(f.replace("\n", "").isprintable() for f in fields), item


@pytest.mark.postgres
def test_a_faq_with_control_characters_imports_into_postgresql(tmp_path, postgres_url, model_path):
    from bot.container import Container
    from bot.db import migrate
    from bot.db.models import FaqEntry
    from bot.settings import Settings

    faq = tmp_path / "faq.md"
    faq.write_text(
        "## Where is the gym?\x00\n<!-- alt: gym\x00 | fitness -->\n<!-- tags: a\x00 -->\nFloor\x00 3.\n"
    )
    migrate.upgrade(postgres_url)
    c = Container(Settings(data_dir=tmp_path / "data", database_url=postgres_url, model_path=model_path))
    report = c.index.import_items(load_faq(faq))
    assert report.added == 1
    with c.sessions() as s:
        entry = s.scalars(sa.select(FaqEntry)).one()
    assert (entry.question, entry.answer, entry.alt_questions) == (
        "Where is the gym?",
        "Floor 3.",
        ["gym", "fitness"],
    )
