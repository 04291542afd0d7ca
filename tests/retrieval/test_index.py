"""The FAQ index on real embedded Chroma with the bundled MiniLM."""

import dataclasses

from retrieval.faq import FaqItem, load_faq

from ..conftest import SAMPLE_FAQ


def test_sample_questions_find_their_entry(sample_index):
    cases = {
        "How do I reset my VPN password?": "vpn-password-reset",
        "i forgot the password for the vpn": "vpn-password-reset",
        "where do I see my payslip": "payslip",
        "how many days of holiday do I have per year": "vacation-allowance",
        "someone sent me a suspicious email with a link": "phishing-report",
    }
    for question, expected in cases.items():
        hits = sample_index.search(question, k=5)
        assert hits[0].id == expected, (question, [(h.id, h.score) for h in hits])
        assert len({h.id for h in hits}) == len(hits)  # one hit per entry, best phrasing wins
        assert hits == sorted(hits, key=lambda h: h.score, reverse=True)


def test_out_of_scope_scores_low(sample_index):
    top = sample_index.search("What is the capital of Peru?", k=1)[0]
    assert top.score < 0.3


def test_reimport_is_idempotent_and_updates_changed_entries(container):
    items = load_faq(SAMPLE_FAQ)
    first = container.index.import_items(items)
    assert (first.added, first.updated, first.unchanged) == (len(items), 0, 0)
    docs = container.store.count()
    assert docs == sum(len(i.phrasings) for i in items)

    again = container.index.import_items(items)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(items))
    assert container.store.count() == docs

    vpn = next(i for i in items if i.id == "vpn-password-reset")
    changed = dataclasses.replace(vpn, alt_questions=("my vpn login stopped working",))
    items2 = [changed if i.id == vpn.id else i for i in items]
    report = container.index.import_items(items2)
    assert (report.updated, report.unchanged) == (1, len(items) - 1)
    assert container.store.count() == docs - len(vpn.alt_questions) + 1  # old phrasings removed
    assert container.index.search("my vpn login stopped working", k=1)[0].id == "vpn-password-reset"


def test_prune_removes_entries_missing_from_source(container):
    items = [FaqItem("a", "How do I order pizza?", "Call 555."), FaqItem("b", "Where is the gym?", "Floor 3.")]
    container.index.import_items(items)
    report = container.index.import_items(items[:1])
    assert report.pruned == 0 and container.index.count_entries() == 2
    report = container.index.import_items(items[:1], prune=True)
    assert report.pruned == 1 and container.index.count_entries() == 1
    assert [h.id for h in container.index.search("Where is the gym?", k=5)] == ["a"]
