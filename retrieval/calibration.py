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
    points = [(math.log(n), tuned_t if tuned else untuned_t) for n, untuned_t, tuned_t in MEASURED]
    x = math.log(max(phrasings_per_entry, 1.0))
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]
