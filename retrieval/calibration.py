"""Default abstention thresholds, measured against the FAQ's phrasings per entry.

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


def default_threshold(phrasings_per_entry: float, tuned: bool) -> float:
    counts, untuned_t, tuned_t = zip(*MEASURED)
    # np.interp holds the end values flat beyond the measured range, never extrapolates
    return float(
        np.interp(math.log(max(phrasings_per_entry, 1.0)), np.log(counts), tuned_t if tuned else untuned_t)
    )
