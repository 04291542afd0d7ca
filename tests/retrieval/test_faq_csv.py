"""CSV FAQ files: the sample parses; bad files fail with file and line, as a whole."""

import pytest

from retrieval.faq import FaqFormatError, load_faq
from tests.support import SAMPLE_FAQ


def write(tmp_path, text, name="faq.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_sample_faq_parses():
    items = load_faq(SAMPLE_FAQ)
    assert len(items) >= 30
    vpn = next(i for i in items if i.id == "vpn-password-reset")
    assert vpn.question == "How do I reset my VPN password?"
    assert "I forgot my VPN password" in vpn.alt_questions
    assert vpn.url.startswith("https://")
    assert "vpn" in vpn.tags
    assert len({i.id for i in items}) == len(items)


def test_optional_columns_and_bom(tmp_path):
    p = write(tmp_path, "\ufeffid,question,answer\nq1,What?,That.\n")
    (item,) = load_faq(p)
    assert (item.id, item.question, item.answer, item.alt_questions, item.url, item.tags) == (
        "q1",
        "What?",
        "That.",
        (),
        None,
        (),
    )


def test_multiline_quoted_answer(tmp_path):
    p = write(tmp_path, 'id,question,answer\nq1,How?,"Step 1.\nStep 2, then ""done""."\n')
    (item,) = load_faq(p)
    assert item.answer == 'Step 1.\nStep 2, then "done".'


def test_missing_column_names_the_file(tmp_path):
    p = write(tmp_path, "id,question\nq1,What?\n")
    with pytest.raises(FaqFormatError, match=r"faq.csv:1: missing column\(s\) answer"):
        load_faq(p)


def test_every_bad_row_is_reported_with_its_line(tmp_path):
    p = write(
        tmp_path,
        "id,question,answer\nq1,What?,That.\nq1,Again?,Dup.\n,No id?,x\nq3,,no question\nq4,Q?,\nbad id!,Q?,A\n",
    )
    with pytest.raises(FaqFormatError) as err:
        load_faq(p)
    msg = str(err.value)
    assert "faq.csv:3: duplicate id 'q1' (first at" in msg
    assert "faq.csv:4: missing id" in msg
    assert "faq.csv:5: empty question" in msg
    assert "faq.csv:6: empty answer" in msg
    assert "faq.csv:7: id 'bad id!'" in msg


def test_extra_cells_and_bad_url(tmp_path):
    p = write(
        tmp_path,
        "id,question,answer,url\nq1,Q?,A,https://ok.example\nq2,Q?,A,ftp://x,extra\nq3,Q?,A,javascript:alert(1)\n",
    )
    with pytest.raises(FaqFormatError) as err:
        load_faq(p)
    assert "faq.csv:3: 1 cell(s) beyond the 4 columns" in str(err.value)
    assert "faq.csv:4: url 'javascript:alert(1)' is not an http(s) URL" in str(err.value)


def test_not_utf8(tmp_path):
    p = write(tmp_path, "id,question,answer\nq1,Qué?,Sí\n", encoding="latin-1")
    with pytest.raises(FaqFormatError, match="not UTF-8"):
        load_faq(p)


def test_empty_and_missing_and_unknown_files(tmp_path):
    with pytest.raises(FaqFormatError, match="no FAQ entries"):
        load_faq(write(tmp_path, "id,question,answer\n"))
    with pytest.raises(FaqFormatError, match="no such file"):
        load_faq(tmp_path / "nope.csv")
    with pytest.raises(FaqFormatError, match="unsupported format"):
        load_faq(write(tmp_path, "x", name="faq.xlsx"))


def test_control_characters_are_stripped(tmp_path):
    p = write(tmp_path, "id,question,answer\nq1,Wh\x07at?\x00,Th\x1bat.\n")
    (item,) = load_faq(p)
    assert (item.question, item.answer) == ("What?", "That.")


def test_content_hash_tracks_content_not_source(tmp_path):
    a = load_faq(write(tmp_path, "id,question,answer\nq1,Q?,A\n", name="a.csv"))[0]
    b = load_faq(write(tmp_path, "id,question,answer\nq1,Q?,A\n", name="b.csv"))[0]
    c = load_faq(write(tmp_path, "id,question,answer\nq1,Q?,A changed\n", name="c.csv"))[0]
    assert a.content_hash() == b.content_hash() != c.content_hash()
