"""Selective answering on every public set, through the product's own index, against baselines
measured in the same run (issue 15):

- ``plain dense``: max cosine over each entry's phrasings and answer chunks, abstaining below the
  CLINC150-read default of retrieval/calibration.py, with the embedder the index has (tuned on the
  FAQ where the set allows it);
- ``plain dense, untuned``: the same with the bundled MiniLM as it comes, in a second import that
  is never tuned: what a newcomer's first try with the same embedder does, the baseline issue 15's
  "hit@1 >= plain dense + 8" is read against (for an untunable FAQ the two are the same import);
- ``before``: the ranking and abstention that shipped before issue 15 (smoothed max + centroid +
  BM25 over English-stemmed phrasings, every question through the embedder, the CLINC150-read
  default threshold);
- ``now``: the product as it ships (BM25 over the whole entry in the FAQ's language fused at 0.3,
  questions in languages the embedder does not read ranked on words, abstention calibrated on the
  FAQ's own entries);
- ``words only``: the lexical baseline issue 15 compares other languages against: every question
  ranked on BM25 over the whole entry in the FAQ's language (its segmenter or stemmer) and nothing
  else, abstention calibrated by the same rule on the same scale. Because coverage is only
  comparable at equal precision, the run also prints the coverage that the baseline's best
  threshold *on the test itself* reaches at ``now``'s precision: a bound no calibrated rule can
  beat on that ranking.

All but the untuned baseline read the same imported index (one import, one tuning per set, as `faq import` does with
the default settings); only the ranking and abstention differ. Sets are read from ../shared/data
(its README lists them and their licences); nothing from it is copied. CLINC150 is used at 3 and at
5 phrasings per entry, its test split (4,500 in scope, sampled down with --clinc-sample) and
oos_val (100 out of scope).

    .venv/bin/python bench/retrieval_public.py [--sets a,b] [--no-tune] [--clinc-sample 1500] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.calibration import default_threshold  # noqa: E402
from retrieval.evaluate import EvalQuery, evaluate  # noqa: E402
from retrieval.faq import FaqItem, load_faq  # noqa: E402
from retrieval.index import LEXICAL, TUNED_LEXICAL_WEIGHT, FaqIndex  # noqa: E402
from retrieval.scoring import ScoringWeights  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = (
    "clinc150_3",
    "clinc150_5",
    "hint3_powerplay11_en",
    "doc2dial_gov_en",
    "crosswoz_zh",
    "chitchat_fr",
    "chitchat_es",
)
PLAIN_DENSE = ScoringWeights(temperature=0.0, centroid=0.0, bm25=0.0)
BEFORE = ScoringWeights(temperature=0.05, centroid=0.5, bm25=0.05)
NOW = ScoringWeights()


def load_set(name: str, clinc_sample: int) -> tuple[list[FaqItem], list[EvalQuery]]:
    if name.startswith("clinc150"):
        k = int(name.split("_")[1])
        data = json.loads((DATA / "clinc150" / "data_full_without_oos_test.json").read_text())
        by: dict[str, list[str]] = {}
        for text, intent in data["train"]:
            by.setdefault(intent, []).append(text)
        # No answers in CLINC150: the answer repeats the question.
        items = [
            FaqItem(id=i, question=v[0], alt_questions=tuple(v[1:k]), answer=v[0])
            for i, v in sorted(by.items())
        ]
        test = [EvalQuery(t, i) for t, i in data["test"]]
        if clinc_sample and len(test) > clinc_sample:
            test = random.Random(0).sample(test, clinc_sample)
        return items, test + [EvalQuery(t, None) for t, _ in data["oos_val"]]
    items = load_faq(DATA / name / "faq.csv")
    queries = []
    for line in (DATA / name / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            o = json.loads(line)
            queries.append(EvalQuery(o["query"], o["expected_id"]))
    return items, queries


def configure(index: FaqIndex, variant: str) -> None:
    """Point the one imported index at a variant's ranking and abstention; the next query rebuilds
    its in-memory snapshot. "now@W": the product with lexical weight W."""
    snap = index._fresh()
    tuned = snap.embedder_path is not None
    index.__dict__.pop("_mode", None)  # the product's own routing unless a variant overrides it
    # The languages the configured embedder reads, as the container set them (English for the
    # bundled MiniLM; all for SUPPORTBOT_EMBEDDING_LANGUAGES=multilingual), kept before the
    # baselines below overwrite them.
    languages = index.__dict__.setdefault("_configured_languages", index.embedder_languages)
    if variant.startswith("now") or variant == "words only":
        weight = float(variant.split("@")[1]) if "@" in variant else None  # None: the product's choice
        index.weights, index.embedder_languages = NOW, languages
        index.lexical_weight = weight
        index.tuned_lexical_weight = weight if "@" in variant else TUNED_LEXICAL_WEIGHT
        index.abstain_threshold = index.tuned_abstain_threshold = None
        if variant == "words only":  # the product's configuration, every question routed to words
            index._mode = lambda snap, language: LEXICAL
    else:
        index.weights = PLAIN_DENSE if variant == "plain dense" else BEFORE
        index.lexical_weight = index.tuned_lexical_weight = 0.0
        index.embedder_languages = None
        floor = default_threshold(snap.phrasings_per_entry, tuned)
        index.abstain_threshold = index.tuned_abstain_threshold = floor
    index._snapshot = None


def main() -> None:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--no-tune", action="store_true", help="Leave the embedder untuned.")
    ap.add_argument("--clinc-sample", type=int, default=1500, help="In-scope CLINC150 test queries (0: all).")
    ap.add_argument("--json", type=Path, help="Also write every figure here.")
    ap.add_argument(
        "--lexical-weights", default="", help="Also run the product at these lexical weights, e.g. 0,0.1"
    )
    ap.add_argument(
        "--data", type=Path, default=DATA, help="Folder holding the sets (default ../shared/data)."
    )
    args = ap.parse_args()
    DATA = args.data  # load_set reads from here: a copy with changed FAQs (bench/research/exp_doc2query.py)
    variants = ("plain dense", "before", "now", "words only") + tuple(
        f"now@{w}" for w in args.lexical_weights.split(",") if w.strip()
    )
    keys = ("hit@1", "hit@5", "answer_precision", "coverage", "oos_abstain", "n_answers")
    everything: dict = {}
    for name in args.sets.split(","):
        items, queries = load_set(name, args.clinc_sample)
        n_in = sum(q.expected_id is not None for q in queries)
        with tempfile.TemporaryDirectory(prefix="supportbot-public-") as tmp:
            c = Container(Settings(_env_file=None, data_dir=Path(tmp), tune_on_import=not args.no_tune))
            c.ensure_schema()
            t0 = time.perf_counter()
            c.index.import_items(items)
            ingest_s = time.perf_counter() - t0
            if not args.no_tune:
                from retrieval.tune import TuneError

                try:
                    c.tune_embedder()
                except TuneError as exc:  # as `faq import` does: serve untuned, say why
                    print(f"  (not tuned: {exc})")
            tuned_s = time.perf_counter() - t0 - ingest_s
            print(
                f"\n== {name}: {len(items)} entries, {n_in} in scope / {len(queries) - n_in} out of scope; "
                f"import {ingest_s:.1f} s, tuning {tuned_s:.1f} s",
                flush=True,
            )
            print(f"  {'variant':12s} " + " ".join(f"{k:>16s}" for k in keys) + "   threshold  p50 ms")
            everything[name] = {}
            results: dict[str, list] = {}
            for variant in variants:
                configure(c.index, variant)
                c.index.retrieve("warm up")

                def search(q: str):
                    r = c.index.retrieve(q, 5)
                    return r.hits, r.abstain, r.language

                report = evaluate(queries, search)
                data = report.to_json()
                everything[name][variant] = data
                results[variant] = report.results
                thresholds = sorted({round(t, 3) for t in c.index._snapshot.thresholds.values()}) or [
                    round(c.index.threshold(), 3)
                ]
                cells = " ".join(
                    f"{'-' if data[k] is None else (f'{data[k]:.3f}' if isinstance(data[k], float) else data[k]):>16}"
                    for k in keys
                )
                chosen = c.index._snapshot.lexical_weight  # an untuned index's own BM25 weight, if it chose
                weight = f"  (BM25 weight chosen: {chosen:g})" if chosen is not None else ""
                print(f"  {variant:12s} {cells}   {thresholds}  {data['p50_ms']:.1f}{weight}", flush=True)
                langs = data.get("by_language") or {}
                if len(langs) > 1 or variant.startswith("now"):
                    for lang, fig in sorted(langs.items(), key=lambda kv: -kv[1]["n_in_scope"]):
                        if fig["n_in_scope"] + fig["n_out_of_scope"] < 5:
                            continue
                        print(
                            f"      {variant} [{lang}] n={fig['n_in_scope']}+{fig['n_out_of_scope']}: "
                            f"P {_f(fig['answer_precision'])} C {_f(fig['coverage'])} "
                            f"hit@1 {_f(fig['hit@1'])} oos_abstain {_f(fig['oos_abstain'])}"
                        )
            untuned = everything[name]["plain dense"]
            if c.index._fresh().embedder_path is not None:
                untuned = plain_dense_untuned(items, queries)
            everything[name]["plain dense, untuned"] = untuned
            cells = " ".join(
                f"{'-' if untuned[k] is None else (f'{untuned[k]:.3f}' if isinstance(untuned[k], float) else untuned[k]):>16}"
                for k in keys
            )
            print(f"  {'plain dense, untuned':12s} {cells}", flush=True)
            hit1 = everything[name]["now"]["hit@1"]
            if hit1 is not None and untuned["hit@1"] is not None:
                print(
                    f"  now's hit@1 over the untuned plain dense baseline: {100 * (hit1 - untuned['hit@1']):+.1f} points"
                )
            # How well now's confidence separates right answers from wrong ones, before calibration:
            # the coverage its best threshold on the test itself reaches at precision 0.9.
            bound = best_coverage_at(results["now"], 0.9)
            everything[name]["now"]["coverage_at_0.9_best_threshold"] = bound
            print(f"  now, its best threshold on the test at precision 0.9: coverage {_f(bound)}", flush=True)
            now = everything[name]["now"]["answer_precision"]
            if now is not None:
                best = best_coverage_at(results["words only"], now)
                everything[name]["words only"]["coverage_at_now_precision"] = best
                print(
                    f"  words only, its best threshold on the test at now's precision ({now:.3f}): "
                    f"coverage {_f(best)} (now: {_f(everything[name]['now']['coverage'])})",
                    flush=True,
                )
            c.close()
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, ensure_ascii=False))


def plain_dense_untuned(items: list[FaqItem], queries: list[EvalQuery]) -> dict:
    """The plain dense figures on a second import of the same FAQ with the bundled embedder left
    untuned (the first import's base vectors only serve its confidence, never its ranking)."""
    with tempfile.TemporaryDirectory(prefix="supportbot-public-untuned-") as tmp:
        c = Container(Settings(_env_file=None, data_dir=Path(tmp), tune_on_import=False))
        c.ensure_schema()
        c.index.import_items(items)
        configure(c.index, "plain dense")
        c.index.retrieve("warm up")

        def search(q: str):
            r = c.index.retrieve(q, 5)
            return r.hits, r.abstain, r.language

        data = evaluate(queries, search).to_json()
        c.close()
    return data


def best_coverage_at(results, precision: float) -> float | None:
    """The highest coverage any threshold on the top score reaches with answer precision at least
    ``precision`` (questions the variant abstained on for want of any match stay unanswered)."""
    n_in = sum(r.expected_id is not None for r in results)
    if not n_in:
        return None
    # An out-of-scope question's expected id is None: never right.
    return coverage_at(
        ((r.top[0]["score"], r.top[0]["id"] == r.expected_id) for r in results if r.top), n_in, precision
    )


def coverage_at(scored, n_in: int, precision: float) -> float:
    """The highest coverage (right answers / ``n_in``) any threshold on the scores of ``scored``
    ((score, right) pairs) reaches with answer precision at least ``precision``."""
    scored = sorted(scored, key=lambda t: -t[0])
    best, right, answers, i = 0.0, 0, 0, 0
    while i < len(scored):  # a threshold answers every question at or above it: ties go together
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            right += scored[j][1]
            answers += 1
            j += 1
        if right / answers >= precision:
            best = max(best, right / n_in)
        i = j
    return best


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    csv.field_size_limit(10**8)
    main()
