"""JSONL, Markdown and directories of FAQ files."""

import json

import pytest

from retrieval.faq import FaqFormatError, load_faq


def test_jsonl_entries(tmp_path):
    p = tmp_path / "faq.jsonl"
    p.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "id": "a",
                        "question": "Q1?",
                        "answer": "A1.",
                        "alt_questions": ["Q one?", " "],
                        "tags": ["x", "y"],
                    }
                ),
                "",
                json.dumps(
                    {
                        "id": 7,
                        "question": "Q2?",
                        "answer": "A2.",
                        "url": "https://x.example/2",
                        "tags": "p, q",
                    }
                ),
            ]
        )
    )
    a, b = load_faq(p)
    assert (a.id, a.alt_questions, a.tags) == ("a", ("Q one?",), ("x", "y"))
    assert (b.id, b.url, b.tags) == ("7", "https://x.example/2", ("p", "q"))


def test_jsonl_errors_name_their_lines(tmp_path):
    p = tmp_path / "faq.jsonl"
    p.write_text(
        "\n".join(
            [
                '{"id": "a", "question": "Q?", "answer": "A."}',
                '{"id": "b", "question": "Q?", "answer": ',
                '["not", "an", "object"]',
                '{"id": "c", "question": "Q?", "answer": "A.", "colour": "red"}',
                '{"id": "d", "question": "Q?", "answer": "A.", "alt_questions": [1, 2]}',
                '{"id": "a", "question": "Q?", "answer": "A."}',
            ]
        )
    )
    with pytest.raises(FaqFormatError) as err:
        load_faq(p)
    msg = str(err.value)
    for expected in [
        "faq.jsonl:2: invalid JSON",
        "faq.jsonl:3: expected a JSON object, got list",
        "faq.jsonl:4: unknown key(s) colour",
        "faq.jsonl:5: must be a list of strings",
        "faq.jsonl:6: duplicate id 'a' (first at",
    ]:
        assert expected in msg, msg


MARKDOWN = """# Brightwater IT handbook

Intro text that belongs to no entry.

## How do I reset my VPN password? {#vpn-reset}
<!-- alt: I forgot my VPN password | VPN password wrong -->
<!-- url: https://intranet.example/vpn -->
<!-- tags: it, vpn -->

Go to the identity portal and choose **Forgot password**.

### If you are locked out
Call extension 4357.

```
## not a heading inside code
```

## Where is the printer?
On floor 2.
"""


def test_markdown_entries(tmp_path):
    p = tmp_path / "handbook.md"
    p.write_text(MARKDOWN)
    vpn, printer = load_faq(p)
    assert vpn.id == "vpn-reset" and vpn.question == "How do I reset my VPN password?"
    assert vpn.alt_questions == ("I forgot my VPN password", "VPN password wrong")
    assert vpn.url == "https://intranet.example/vpn" and vpn.tags == ("it", "vpn")
    assert vpn.answer.startswith("Go to the identity portal")
    assert "### If you are locked out\nCall extension 4357." in vpn.answer
    assert "## not a heading inside code" in vpn.answer
    assert printer.id == "where-is-the-printer" and printer.answer == "On floor 2."


def test_markdown_without_entries_or_with_empty_answer(tmp_path):
    p = tmp_path / "empty.md"
    p.write_text("# Just a title\n\nNo questions here.\n")
    with pytest.raises(FaqFormatError, match="no '## question' headings"):
        load_faq(p)
    p.write_text("## Q?\n\n## Other?\nA.\n")
    with pytest.raises(FaqFormatError, match=r"empty.md:1: empty answer"):
        load_faq(p)


def test_directory_is_validated_as_one_faq(tmp_path):
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "vpn.md").write_text(MARKDOWN)
    (tmp_path / "hr.csv").write_text("id,question,answer\nleave,How do I request leave?,In Personio.\n")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.csv").write_text("broken")
    items = load_faq(tmp_path)
    assert {i.id for i in items} == {"vpn-reset", "where-is-the-printer", "leave"}

    (tmp_path / "dup.jsonl").write_text('{"id": "leave", "question": "Q?", "answer": "A."}\n')
    with pytest.raises(FaqFormatError, match=r"hr.csv:2: duplicate id 'leave' \(first at .*dup.jsonl:1\)"):
        load_faq(tmp_path)  # files are read in sorted order: dup.jsonl first


def test_empty_directory(tmp_path):
    with pytest.raises(FaqFormatError, match="no FAQ files"):
        load_faq(tmp_path)


def test_markdown_headings_in_any_script_get_distinct_ascii_ids(tmp_path):
    """Ids are ASCII (Slack block ids, the CLI): headings are transliterated, not stripped. Keeping
    only ASCII letters gave every Chinese heading the id "entry", and such a FAQ was refused."""
    p = tmp_path / "faq.md"
    p.write_text(
        "## 我有多少天年假？\n每年二十五天。\n\n## 如何申请报销？\n在财务系统提交发票。\n\n"
        "## 如何重置VPN密码？\n访问身份门户。\n\n## Wie ändere ich mein Passwort? Straße\nÜber das Portal.\n\n"
        "## Как сменить пароль?\nВ личном кабинете.\n\n## 비밀번호 재설정\n포털에서.\n",
        encoding="utf-8",
    )
    ids = [item.id for item in load_faq(p)]
    assert ids == [
        "wo-you-duo-shao-tian-nian-jia",
        "ru-he-shen-qing-bao-xiao",
        "ru-he-zhong-zhi-vpn-mi-ma",
        "wie-andere-ich-mein-passwort-strasse",
        "kak-smenit-parol",
        "bi-mil-beon-ho-jae-seol-jeong",
    ]


def test_a_markdown_id_clash_says_how_to_resolve_it(tmp_path):
    p = tmp_path / "faq.md"
    p.write_text(
        "## Wo ist der Drucker?\nIm 2. Stock.\n\n## Wo ist der Drucker?\nIm Keller.\n", encoding="utf-8"
    )
    with pytest.raises(FaqFormatError, match=r"faq.md:4: duplicate id 'wo-ist-der-drucker' .*\{#my-id\}"):
        load_faq(p)
