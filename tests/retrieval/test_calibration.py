"""Abstention is calibrated on the FAQ's own entries, above the floor read off its phrasings per
entry (retrieval/calibration.py)."""

import numpy as np
import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.calibration import MEASURED, default_threshold, self_calibrated_threshold
from retrieval.faq import FaqItem


def test_measured_rows_are_returned_exactly_and_interpolated_monotonically_between_them():
    for n, untuned, tuned in MEASURED:
        assert default_threshold(n, tuned=False) == pytest.approx(untuned)
        assert default_threshold(n, tuned=True) == pytest.approx(tuned)
    grid = [MEASURED[0][0] + i * (MEASURED[-1][0] - MEASURED[0][0]) / 50 for i in range(51)]
    for tuned in (False, True):
        values = [default_threshold(n, tuned) for n in grid]
        lo, hi = sorted((values[0], values[-1]))
        assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in values)
        # held flat beyond the measured range, never extrapolated
        assert default_threshold(1, tuned) == values[0] and default_threshold(500, tuned) == values[-1]


def test_tuned_threshold_rises_with_phrasings_per_entry():
    assert default_threshold(10, tuned=True) > default_threshold(5, tuned=True) + 0.02


def _items(phrasings: int) -> list[FaqItem]:
    topics = ["vpn password", "payslip", "holiday allowance", "printer jam", "guest wifi", "laptop order"]
    return [
        FaqItem(
            id=f"e{i}",
            question=f"How do I handle {t}?",
            alt_questions=tuple(f"{t} question {j}" for j in range(phrasings - 1)),
            answer=f"About {t}.",
        )
        for i, t in enumerate(topics)
    ]


def test_the_calibrated_threshold_answers_one_in_ten_held_out_questions():
    held_out = np.linspace(0.2, 0.6, 101)
    t = self_calibrated_threshold(held_out)
    assert np.mean(held_out >= t) == pytest.approx(0.1, abs=0.011)
    assert self_calibrated_threshold(np.array([])) == 0.0


@pytest.mark.slow
def test_the_index_calibrates_on_its_own_entries_above_the_floor(data_dir):
    items = _items(3)
    c = Container(Settings(data_dir=data_dir))
    c.ensure_schema()
    c.index.import_items(items)
    # What calibration stands for: each entry's question asked of the FAQ without that entry.
    held_out = []
    for i, item in enumerate(items):
        other = Container(Settings(data_dir=data_dir / f"without-{i}"))
        other.ensure_schema()
        other.index.import_items([it for it in items if it.id != item.id])
        held_out.append(other.index.retrieve(item.question).confidence)
        other.close()
    expected = self_calibrated_threshold(np.array(held_out))
    floor = default_threshold(3, tuned=False)
    # Every entry reads "How do I handle X?": without its own entry a question still finds a
    # sibling almost as well, so the calibrated threshold sits well above the CLINC150 floor.
    assert expected > floor + 0.05
    assert c.index.threshold() == pytest.approx(expected, abs=0.02)  # BM25's idf moves a little
    result = c.index.retrieve("How do I handle vpn password?")
    assert result.top.id == "e0" and result.confidence >= result.threshold and not result.abstain
    c.index.import_items(_items(12))  # a new revision is calibrated again
    assert c.index.threshold() >= default_threshold(12, tuned=False)


def test_a_configured_threshold_is_used_as_is(data_dir):
    c = Container(Settings(data_dir=data_dir, abstain_threshold=0.99, tuned_abstain_threshold=0.98))
    c.ensure_schema()
    c.index.import_items(_items(3))
    assert c.index.threshold() == 0.99
    assert c.index.retrieve("How do I handle vpn password?").abstain  # exact phrasing, still below 0.99


def test_a_calibrated_threshold_is_stored_and_reused_by_other_processes_until_the_index_changes(
    data_dir, monkeypatch
):
    c = Container(Settings(data_dir=data_dir))
    c.ensure_schema()
    c.index.import_items(_items(3))
    first = c.index.retrieve("vpn password").threshold

    # Another process (a fresh container: nothing in memory) on the same, unchanged index.
    from retrieval.index import FaqIndex

    def no_calibration(self, snap, mode):
        raise AssertionError("calibrated again an index that did not change")

    monkeypatch.setattr(FaqIndex, "_calibrate", no_calibration)
    other = Container(Settings(data_dir=data_dir))
    assert other.index.retrieve("vpn password").threshold == first

    # A changed index (a new entry: a new revision) is calibrated afresh, and that is stored too.
    monkeypatch.undo()
    other.index.import_items(
        [*_items(3), FaqItem(id="e9", question="How do I book a meeting room?", answer="Use the calendar.")]
    )
    calls = []
    real = FaqIndex._calibrate
    monkeypatch.setattr(
        FaqIndex, "_calibrate", lambda self, snap, mode: calls.append(mode) or real(self, snap, mode)
    )
    changed = other.index.retrieve("vpn password").threshold
    third = Container(Settings(data_dir=data_dir))
    assert third.index.retrieve("vpn password").threshold == changed
    assert len(calls) == 1  # the second process reused what the first stored


# ---- what admins confirmed ------------------------------------------------------------------------
def test_confirmed_questions_lower_the_threshold_to_answer_nineteen_in_twenty_but_never_raise_it():
    from retrieval.calibration import MIN_CONFIRMED, confirmed_threshold

    confirmed = np.linspace(0.40, 0.80, 2000)
    t = confirmed_threshold(0.60, confirmed, np.zeros(0))
    assert t < 0.60 and np.mean(confirmed >= t) == pytest.approx(0.95, abs=0.01)
    assert confirmed_threshold(0.41, confirmed, np.zeros(0)) == 0.41  # never above the negatives' rule
    assert confirmed_threshold(0.60, confirmed[: MIN_CONFIRMED - 1], np.zeros(0)) == 0.60  # too few


def test_few_confirmed_questions_lower_the_threshold_less_than_many_from_the_same_questions():
    from retrieval.calibration import MIN_CONFIRMED, confirmed_threshold

    rng = np.random.default_rng(0)
    answered = []
    for n in (MIN_CONFIRMED, 300, 3000):
        confirmed = rng.uniform(0.40, 0.80, n)
        answered.append(np.mean(confirmed >= confirmed_threshold(0.70, confirmed, np.zeros(0))))
    assert answered[0] < answered[1] < answered[2] <= 0.96
    assert answered[0] >= 0.85  # a few dozen still lower it


def test_the_bound_holds_its_confidence_on_any_distribution():
    from retrieval.calibration import quantile_upper_bound

    # drawn many times, the bound falls below the true 5th percentile in at most about 5% of draws
    rng = np.random.default_rng(1)
    for draw, true_q05 in (
        (lambda n: rng.uniform(0, 1, n), 0.05),
        (lambda n: rng.exponential(1, n), -np.log(0.95)),
    ):
        for n in (40, 300):
            below = np.mean([quantile_upper_bound(draw(n), 0.05, 0.95) < true_q05 for _ in range(2000)])
            assert below <= 0.06, (n, below)
            assert below >= 0.01  # and it is not a bound that never comes near the quantile


def test_questions_admins_rejected_keep_the_threshold_from_answering_them_again():
    from retrieval.calibration import confirmed_threshold

    confirmed = np.linspace(0.40, 0.80, 2000)
    lowered = confirmed_threshold(0.60, confirmed, np.zeros(0))
    rejected = np.linspace(0.45, 0.55, 101)
    guarded = confirmed_threshold(0.60, confirmed, rejected)
    assert lowered < guarded < 0.60
    assert np.mean(rejected >= guarded) == pytest.approx(0.1, abs=0.011)
    # rejected questions the re-tuned index already scores low do not hold anything back
    assert confirmed_threshold(0.60, confirmed, rejected - 0.2) == lowered


def test_one_learned_phrasing_in_five_is_held_out_of_tuning_the_same_way_everywhere():
    from retrieval.calibration import CONFIRMED_FOLD, held_out_of_tuning

    texts = [f"how do I reset the thing number {i}" for i in range(2000)]
    share = np.mean([held_out_of_tuning(t) for t in texts])
    assert share == pytest.approx(1 / CONFIRMED_FOLD, abs=0.03)
    assert held_out_of_tuning("reset  my\tvpn") == held_out_of_tuning("reset my vpn")  # as stored


def _phrasings(fold: bool, per_topic: int) -> list[tuple[str, str]]:
    """(entry id, learned phrasing) pairs whose held_out_of_tuning() is ``fold``."""
    from retrieval.calibration import held_out_of_tuning

    topics = ["vpn password", "payslip", "holiday allowance", "printer jam", "guest wifi", "laptop order"]
    out = []
    for i, t in enumerate(topics):
        k = n = 0
        while n < per_topic:
            text = f"help me with the {t}, case {k}"
            k += 1
            if held_out_of_tuning(text) == fold:
                out.append((f"e{i}", text))
                n += 1
    return out


@pytest.mark.slow
def test_confirmed_questions_are_asked_as_if_the_whole_fold_had_never_been_learned(data_dir, monkeypatch):
    """Calibration's confidence for each held-out learned phrasing is the one a live question gets
    from the same FAQ in which only the other phrasings were learned: vectors and BM25 words alike."""
    import retrieval.calibration as calibration
    from retrieval.search import SEMANTIC

    monkeypatch.setattr(calibration, "MIN_CONFIRMED", 6)
    trained, held = _phrasings(False, 2), _phrasings(True, 2)
    full, reference = (Container(Settings(data_dir=data_dir / name)) for name in ("full", "reference"))
    for c, learned in ((full, trained + held), (reference, trained)):
        c.ensure_schema()
        c.index.import_items(_items(3))
        for entry_id, text in learned:
            c.index.learn_phrasing(entry_id, text)
    snap = full.index._fresh()
    got = full.index._confirmed_confidences(snap, SEMANTIC)
    want = [reference.index.retrieve(text).confidence for _, text in held]
    order = [snap.texts.index(text) for _, text in held]  # calibration asks them in index order
    assert got.tolist() == pytest.approx([w for _, w in sorted(zip(order, want))], abs=1e-5)

    # The threshold follows them: the lower of the negatives' rule and nine in ten of these.
    lowered = full.index._calibrate(snap, SEMANTIC)
    monkeypatch.setattr(calibration, "MIN_CONFIRMED", 10_000)
    negatives_only = full.index._calibrate(snap, SEMANTIC)
    assert lowered == pytest.approx(min(negatives_only, float(np.quantile(got, 0.1))))


def test_tuning_never_trains_on_the_held_out_fold(data_dir, monkeypatch):
    import retrieval.tune as tune

    c = Container(Settings(data_dir=data_dir, tune_on_import=False))
    c.ensure_schema()
    c.index.import_items(_items(3))
    trained, held = _phrasings(False, 1), _phrasings(True, 1)
    for entry_id, text in trained + held:
        c.index.learn_phrasing(entry_id, text)
    seen = []

    class Stop(Exception):
        pass

    def record(base, groups, *args, **kwargs):
        seen.extend(t for g in groups for t in g)
        raise Stop  # what was handed to training is all this test needs

    monkeypatch.setattr(tune, "tune_embedder", record)
    with pytest.raises(Stop):
        c.index.tune(data_dir / "tuned")
    assert {t for _, t in trained} <= set(seen)
    assert not {t for _, t in held} & set(seen)
