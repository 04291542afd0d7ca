"""Whatever a FAQ file contains, loading it returns valid entries or raises FaqFormatError: never a
crash, never a half-valid entry."""

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.faq import ID_PATTERN, FaqFormatError, load_faq

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(name: str, content: bytes):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(content)
        try:
            items = load_faq(p)
        except FaqFormatError as exc:
            assert str(exc)  # a message the user can read
            return None
    for it in items:
        assert ID_PATTERN.match(it.id) and it.question and it.answer
        assert all(ch.isprintable() or ch in "\n\t" for ch in it.question + it.answer)
    assert len({it.id for it in items}) == len(items)
    return items


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_in_any_format(data):
    for name in ("faq.csv", "faq.jsonl", "faq.md"):
        load(name, data)


@SETTINGS
@given(st.lists(st.tuples(text, text, text, text), max_size=6))
def test_csv_rows_with_arbitrary_unicode(rows):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "question", "answer", "alt_questions"])
    w.writerows(rows)
    load("faq.csv", buf.getvalue().encode())


@SETTINGS
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["id", "question", "answer", "alt_questions", "tags", "url", "x"]),
            st.one_of(text, st.integers(), st.none(), st.lists(text, max_size=3)),
            max_size=6,
        ),
        max_size=5,
    )
)
def test_jsonl_objects_of_any_shape(objs):
    load("faq.jsonl", "\n".join(json.dumps(o) for o in objs).encode())


@SETTINGS
@given(st.lists(st.tuples(text, text), max_size=5))
def test_markdown_headings_and_bodies(entries):
    md = "\n".join(f"## {q}\n{a}\n" for q, a in entries)
    load("faq.md", md.encode())
