"""One public set imported into a throwaway product index, as `faq import` builds it (research only).

Every research script that measures the shipped ranking (`now`) on a public set repeated the same
steps: load the set, import it into a Container over a temporary data folder, tune the embedder as
`faq import` does (an FAQ that cannot be tuned is served untuned), and point the index at the `now`
variant of bench/retrieval_public.py. ``imported_now`` is those steps, once.

    with imported_now("chitchat_fr", data=Path("/tmp/sets")) as (container, items, queries):
        container.index.retrieve(queries[0].query)
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.tune import TuneError  # noqa: E402


@contextmanager
def imported_now(
    name: str,
    data: Path | None = None,
    clinc_sample: int = 1500,
    tune: bool = True,
    variant: str = "now",
) -> Iterator[tuple[Container, list, list]]:
    """(container, FAQ items, evaluation queries) for the public set ``name`` read from ``data``
    (bench/retrieval_public.py's folder by default), imported and tuned as `faq import` does
    (``tune`` False: never tuned), configured as ``variant``; closed and deleted on exit."""
    if data is not None:
        retrieval_public.DATA = data
    items, queries = retrieval_public.load_set(name, clinc_sample)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        c = Container(Settings(_env_file=None, data_dir=Path(tmp), tune_on_import=tune))
        c.ensure_schema()
        c.index.import_items(items)
        if tune:
            try:
                c.tune_embedder()
            except TuneError as exc:  # as `faq import` does: serve untuned
                print(f"  ({name} not tuned: {exc})", flush=True)
        retrieval_public.configure(c.index, variant)
        try:
            yield c, items, queries
        finally:
            c.close()


def now_figures(container: Container, queries: list) -> str:
    """One line of the `now` figures of an index from ``imported_now`` on ``queries``: hit@1, hit@5,
    answer precision and coverage at the calibrated threshold, out-of-scope abstained, the
    thresholds, and the best coverage any threshold on the test reaches at precision 0.9 and 0.8
    (separation, before calibration)."""
    from retrieval.evaluate import evaluate

    index = container.index
    index.retrieve("warm up")

    def search(q: str):
        r = index.retrieve(q, 5)
        return r.hits, r.abstain, r.language

    report = evaluate(queries, search)
    fig = report.to_json()
    oos = fig["oos_abstain"]
    return (
        f"hit@1 {fig['hit@1']:.3f} hit@5 {fig['hit@5']:.3f} "
        f"P {fig['answer_precision'] or 0:.3f} C {fig['coverage']:.3f} "
        f"oos_abstain {oos if oos is None else round(oos, 3)} "
        f"threshold {sorted({round(t, 3) for t in index._snapshot.thresholds.values()})} "
        f"best C at P>=0.9 {retrieval_public.best_coverage_at(report.results, 0.9):.3f} "
        f"at P>=0.8 {retrieval_public.best_coverage_at(report.results, 0.8):.3f}"
    )
