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
