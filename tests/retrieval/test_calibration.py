"""The default abstention threshold follows the FAQ's phrasings per entry (retrieval/calibration.py)."""

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.calibration import MEASURED, default_threshold
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


def test_index_reads_its_default_off_its_own_phrasings_per_entry(data_dir):
    c = Container(Settings(data_dir=data_dir))
    c.ensure_schema()
    c.index.import_items(_items(3))
    assert c.index.threshold() == pytest.approx(default_threshold(3, tuned=False))
    result = c.index.retrieve("How do I handle vpn password?")
    assert result.confidence >= c.index.threshold() and not result.abstain
    c.index.import_items(_items(12))  # more phrasings per entry: the default moves with them
    assert c.index.threshold() == pytest.approx(default_threshold(12, tuned=False))


def test_a_configured_threshold_is_used_as_is(data_dir):
    c = Container(Settings(data_dir=data_dir, abstain_threshold=0.99, tuned_abstain_threshold=0.98))
    c.ensure_schema()
    c.index.import_items(_items(3))
    assert c.index.threshold() == 0.99
    assert c.index.retrieve("How do I handle vpn password?").abstain  # exact phrasing, still below 0.99
