"""Abstention thresholds: calibrated on each FAQ's own entries, above a floor measured on CLINC150.

Calibrated: a question from the FAQ's own domain that the FAQ has no entry for is the hard case
(an unrelated question scores low anyway). Every FAQ has such questions at hand: its own entries'
questions, each asked with its entry left out. The threshold is the confidence that answers at most
NEGATIVE_QUANTILE's complement of them (one in ten). Measured on six public sets in four languages
against the CLINC150-read floor alone (bench/retrieval_public.py, docs/benchmarks.md), and chosen
over a logistic model of several signals fitted on the same held-out questions, which did better
on some sets and worse on others (bench/research/results/abstain_final.txt: "null_q90" vs "lr_*").

The floor (below) is what abstention was before calibration; it still holds for semantic ranking,
so that a small FAQ, whose few held-out questions say little, never answers more than it used to.

The score that answers 96% of in-scope questions rises with the number of phrasings each entry has:
the top score is a max over more candidates, and an embedder tuned on more phrasings clusters them
more tightly (CLINC150 val: tuned 0.377 at 5 phrasings, 0.438 at 10). Within one FAQ the matched
entry's own count does not matter (bench/research/exp_threshold_by_count.py: flat across 3-15), the
FAQ's mean does. So the default is read off these measurements at the index's mean, interpolated on
a log scale and held flat beyond the ends. Rows: bench/calibrate_threshold.py; docs/benchmarks.md.
"""

from __future__ import annotations

import math

import numpy as np

# (phrasings per entry, untuned threshold, tuned threshold): CLINC150 val, 96% of in-scope answered.
# `.venv/bin/python bench/calibrate_threshold.py`, 2026-11-25.
MEASURED: tuple[tuple[float, float, float], ...] = (
    (2, 0.314, 0.338),
    (3, 0.324, 0.363),
    (5, 0.335, 0.377),
    (10, 0.368, 0.438),
    (15, 0.380, 0.450),
    (20, 0.384, 0.450),
)


NEGATIVE_QUANTILE = 0.9


def self_calibrated_threshold(held_out_confidences: np.ndarray, quantile: float = NEGATIVE_QUANTILE) -> float:
    """The confidence at ``quantile`` of the FAQ's held-out questions (their entry left out): a
    question scoring below it is one the FAQ most likely does not answer."""
    if not len(held_out_confidences):
        return 0.0
    return float(np.quantile(held_out_confidences, quantile))


def default_threshold(phrasings_per_entry: float, tuned: bool) -> float:
    counts, untuned_t, tuned_t = zip(*MEASURED)
    # np.interp holds the end values flat beyond the measured range, never extrapolates
    return float(
        np.interp(math.log(max(phrasings_per_entry, 1.0)), np.log(counts), tuned_t if tuned else untuned_t)
    )
