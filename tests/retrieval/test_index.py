"""The FAQ index on real embedded Chroma with the bundled MiniLM."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from bot.db.models import FaqEntry
from retrieval.chunking import chunk_text
from retrieval.faq import FaqItem, load_faq
from tests.support import SAMPLE_FAQ


@pytest.mark.slow
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


@pytest.mark.slow
def test_out_of_scope_scores_low(sample_index):
    top = sample_index.search("What is the capital of Peru?", k=1)[0]
    assert top.score < 0.3


@pytest.mark.slow
def test_reimport_is_idempotent_and_updates_changed_entries(container, store_kind):
    items = load_faq(SAMPLE_FAQ)
    first = container.index.import_items(items)
    assert (first.added, first.updated, first.unchanged) == (len(items), 0, 0)
    docs = container.store.count()
    assert docs == sum(len(i.phrasings) + len(chunk_text(i.answer)) for i in items)

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


def test_prune_removes_entries_missing_from_source(container, store_kind):
    items = [
        FaqItem("a", "How do I order pizza?", "Call 555."),
        FaqItem("b", "Where is the gym?", "Floor 3."),
    ]
    container.index.import_items(items)
    report = container.index.import_items(items[:1])
    assert report.pruned == 0 and container.index.count_entries() == 2
    report = container.index.import_items(items[:1], prune=True)
    assert report.pruned == 1 and container.index.count_entries() == 1
    assert [h.id for h in container.index.search("Where is the gym?", k=5)] == ["a"]


@pytest.mark.slow
def test_long_answers_are_chunked_and_chunks_cite_their_entry(container, store_kind):
    body = "\n\n".join(
        f"Step {n}: open the settings page number {n} and press the blue button labelled 'sync {n}'."
        for n in range(40)
    )
    body += "\n\nFinally, the quarterly budget spreadsheet lives in the finance drive under Reports."
    container.index.import_items(
        [
            FaqItem("long", "How do I configure the sync client?", body),
            FaqItem("other", "Where is the gym?", "Floor 3."),
        ]
    )
    chunks = chunk_text(body)
    assert len(chunks) > 3
    assert container.store.count() == 1 + len(chunks) + 2
    hit = container.index.search("where is the quarterly budget spreadsheet", k=2)[0]
    assert hit.id == "long" and hit.matched_kind == "answer" and "quarterly budget" in hit.matched


@pytest.mark.slow
def test_learned_phrasing_is_found_at_once_and_survives_reimport(container, store_kind):
    items = load_faq(SAMPLE_FAQ)
    container.index.import_items(items)
    odd = "my tunnel to the office network rejects my secret"
    assert container.index.learn_phrasing("vpn-password-reset", odd, approved_by="UADMIN") is True
    assert container.index.learn_phrasing("vpn-password-reset", odd) is False  # idempotent
    top = container.index.search(odd, k=1)[0]
    assert (top.id, top.matched_kind, top.matched) == ("vpn-password-reset", "learned", odd)
    assert top.score > 0.75

    vpn = next(i for i in items if i.id == "vpn-password-reset")
    edited = dataclasses.replace(vpn, answer=vpn.answer + " Updated.")
    container.index.import_items([edited if i.id == vpn.id else i for i in items])
    assert container.index.search(odd, k=1)[0].matched_kind == "learned"


def test_curated_entry_is_searchable_and_never_pruned(container, store_kind):
    container.index.import_items([FaqItem("gym", "Where is the gym?", "Floor 3.")])
    eid = container.index.add_curated_entry(
        "Can I bring my dog to the office?", "Yes, on Fridays, on floor 1.", approved_by="UADMIN"
    )
    assert container.index.search("are dogs allowed at the office", k=1)[0].id == eid
    report = container.index.import_items([FaqItem("gym", "Where is the gym?", "Floor 3.")], prune=True)
    assert report.pruned == 0 and container.index.count_entries() == 2
    assert container.index.add_curated_entry("Can I bring my dog to the office?", "Only on Fridays.") == eid
    assert container.index.search("dogs at the office?", k=1)[0].answer == "Only on Fridays."


@pytest.mark.slow
def test_import_that_fails_part_way_leaves_sql_unchanged_and_rerun_finishes(container, monkeypatch):
    items = load_faq(SAMPLE_FAQ)
    container.index.import_items(items[:10])
    edited = [dataclasses.replace(i, answer=i.answer + " (v2)") for i in items]
    real_encode = container.embedder.encode
    calls = {"n": 0}

    def flaky(texts, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("embedder crashed")
        return real_encode(texts, **kw)

    monkeypatch.setattr(container.index, "IMPORT_BATCH", 4)
    monkeypatch.setattr(container.embedder, "encode", flaky)
    with pytest.raises(RuntimeError, match="embedder crashed"):
        container.index.import_items(edited)
    assert container.index.count_entries() == 10
    with container.sessions() as s:
        assert all(not e.answer.endswith("(v2)") for e in s.scalars(select(FaqEntry)))

    monkeypatch.setattr(container.embedder, "encode", real_encode)
    report = container.index.import_items(edited)
    assert (report.added, report.updated, report.unchanged) == (len(items) - 10, 10, 0)
    assert container.store.count() == sum(len(i.phrasings) + len(chunk_text(i.answer)) for i in edited)
    assert container.index.search("How do I reset my VPN password?", k=1)[0].answer.endswith("(v2)")


@pytest.mark.slow
def test_another_process_sees_learning_at_once(container, settings):
    """Two containers on one database and store stand for two bot processes."""
    from bot.container import Container

    container.index.import_items(load_faq(SAMPLE_FAQ))
    other = Container(settings)
    odd = "my tunnel to the office network rejects my secret"
    before = other.index.search(odd, k=1)[0]
    container.index.learn_phrasing("vpn-password-reset", odd)
    after = other.index.search(odd, k=1)[0]
    assert (after.id, after.matched_kind) == ("vpn-password-reset", "learned")
    assert after.score > before.score


@pytest.mark.slow
def test_tuning_switches_embedder_and_collection_atomically(container, settings, monkeypatch, tmp_path):
    from bot.container import Container
    from retrieval.tune import TuneParams

    container.index.import_items(load_faq(SAMPLE_FAQ))
    other = Container(settings)
    assert other.index.search("i forgot my vpn password", 1)[0].id == "vpn-password-reset"
    base_vec = other.embedder.encode(["i forgot my vpn password"])[0]

    path = container.index.tune(tmp_path / "embedders", TuneParams(steps=3, batch_entries=8))
    assert (path / "model.safetensors").is_file() and not list(path.glob("*.bin"))
    tuned_vec = other.embedder.encode(["i forgot my vpn password"])[0]
    assert not np.allclose(base_vec, tuned_vec)  # the other process now embeds with the tuned model
    assert other.store.count() == container.store.count() > 0
    assert other.index.search("i forgot my vpn password", 1)[0].id == "vpn-password-reset"

    # A tune that dies while re-indexing leaves the index serving as before.
    first_collection = container.store.name
    monkeypatch.setattr(
        container.index, "_embed", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed"))
    )
    with pytest.raises(RuntimeError, match="killed"):
        container.index.tune(tmp_path / "embedders2", TuneParams(steps=2, batch_entries=8))
    assert other.store.name == first_collection
    assert other.index.search("where is my payslip", 1)[0].id == "payslip"


@pytest.mark.slow
def test_a_tuned_index_abstains_on_base_and_tuned_agreement(container, tmp_path):
    """A tuned index keeps base-embedder copies of every phrasing, kept current by imports and learned
    phrasings; its confidence averages the tuned top score and the base one."""
    from retrieval.index import BASE_CONFIDENCE_WEIGHT, BASE_KINDS, PHRASING_KINDS
    from retrieval.tune import TuneParams

    index = container.index
    index.import_items(load_faq(SAMPLE_FAQ))
    plain = index.retrieve("i forgot my vpn password")
    assert plain.confidence == plain.hits[0].score  # untuned: the top score itself
    index.tune(tmp_path / "embedders", TuneParams(steps=3, batch_entries=8))

    store = index.store()
    phrasing_ids = store.all_docs(PHRASING_KINDS)[0]
    base_ids, _, base_texts, base_vectors = store.all_docs(BASE_KINDS)
    assert sorted(base_ids) == sorted(phrasing_ids)
    base = container.index._embedder_for(None)
    i = base_texts.index("I forgot my VPN password")
    assert np.allclose(base_vectors[i], base.encode(["I forgot my VPN password"])[0], atol=1e-5)

    question = "i forgot my vpn password"
    tuned = index.retrieve(question)
    assert tuned.hits[0].id == "vpn-password-reset"
    base_top = float(index._snapshot.base_scorer.score(base.encode([question])[0], question)[1].max())
    assert base_top != pytest.approx(tuned.hits[0].score, abs=1e-4)
    expected = (1 - BASE_CONFIDENCE_WEIGHT) * tuned.hits[0].score + BASE_CONFIDENCE_WEIGHT * base_top
    assert tuned.confidence == pytest.approx(expected, abs=1e-6)

    # Learned phrasings and re-imported entries get their base copy too.
    index.learn_phrasing("payslip", "where do i find the thing that says what i earned")
    assert len(store.all_docs(BASE_KINDS)[0]) == len(phrasing_ids) + 1
    items = [
        dataclasses.replace(it, alt_questions=(*it.alt_questions, "salary statement location"))
        if it.id == "payslip"
        else it
        for it in load_faq(SAMPLE_FAQ)
    ]
    index.import_items(items)
    ids, _, texts, _ = store.all_docs(BASE_KINDS)
    assert "salary statement location" in texts and len(ids) == len(store.all_docs(PHRASING_KINDS)[0])


@pytest.mark.slow
def test_nightly_retune_follows_what_admins_taught(container, tmp_path, monkeypatch):
    from bot import worker
    from retrieval.tune import TuneParams

    monkeypatch.setattr(container.settings, "tune_on_import", True)  # the default (tests turn it off)
    monkeypatch.setattr(container.settings, "tune_steps", 2)
    index = container.index
    index.import_items(load_faq(SAMPLE_FAQ))
    assert worker.retune_embedder(container) is None  # never tuned (e.g. --no-tune): the night leaves it so
    embedders = container.settings.data_dir / "embedders"
    first = index.tune(embedders, TuneParams(steps=2, batch_entries=8))
    assert not index.tuning_is_stale() and worker.retune_embedder(container) is None

    index.learn_phrasing("payslip", "where do i find the thing that says what i earned")
    assert index.tuning_is_stale()
    second = Path(worker.retune_embedder(container))
    assert second != first and index._current()[1] == str(second)
    assert not index.tuning_is_stale()
    assert index.retrieve("where do i find the thing that says what i earned").hits[0].id == "payslip"
    third = index.tune(embedders, TuneParams(steps=2, batch_entries=8))
    assert sorted(p.name for p in embedders.iterdir()) == sorted(
        [second.name, third.name]
    )  # the oldest is gone
