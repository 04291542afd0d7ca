import numpy as np

from retrieval.scoring import PhrasingScorer, ScoringWeights


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_plain_weights_give_max_cosine_per_entry():
    rng = np.random.default_rng(0)
    emb = unit(rng.normal(size=(9, 16)))
    owners = np.array([2, 0, 0, 1, 2, 2, 1, 0, 3])
    scorer = PhrasingScorer(["a", "b", "c", "d"], emb, owners, ["", "", "", ""], ScoringWeights(0, 0, 0))
    q = unit(rng.normal(size=(1, 16)))[0]
    rows, scores = scorer.score(q, "anything")
    expected = [max(emb[owners == r] @ q) for r in rows]
    assert list(rows) == [0, 1, 2, 3]
    assert np.allclose(scores, expected, atol=1e-6)


def test_fused_score_is_about_one_for_an_exact_phrasing_and_ranks_it_first():
    emb = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.2]])
    owners = np.array([0, 0, 1, 1])
    scorer = PhrasingScorer(["vpn", "pay"], emb, owners, ["reset vpn password", "salary payslip"])
    rows, scores = scorer.score(emb[0], "reset vpn password")
    assert rows[np.argmax(scores)] == 0
    assert 0.95 <= scores.max() <= 1.0 + 1e-6
    assert scores.min() < 0.3


def test_scoring_only_some_entries_gives_exactly_their_full_pass_scores():
    rng = np.random.default_rng(1)
    emb = unit(rng.normal(size=(40, 16)))
    owners = rng.integers(0, 7, size=40)
    texts = [
        "reset vpn password",
        "salary payslip",
        "vpn token",
        "laptop order",
        "holiday leave",
        "printer jam",
        "wifi guest password",
    ]
    scorer = PhrasingScorer(list("abcdefg"), emb, owners, texts)
    q = unit(rng.normal(size=(1, 16)))[0]
    rows, scores = scorer.score(q, "vpn password")
    full = dict(zip(rows.tolist(), scores.tolist()))
    only = scorer.groups(["f", "b", "zz", "f", "d"])  # unknown ids skipped, duplicates once
    assert len(only) == 3
    sub_rows, sub_scores = scorer.score(q, "vpn password", only=only)
    assert [scorer.entry_ids[r] for r in sub_rows] == ["f", "b", "d"]
    assert np.allclose(sub_scores, [full[r] for r in sub_rows], atol=1e-6)
    assert len(scorer.score(q, "vpn", only=scorer.groups(["nope"]))[0]) == 0


def test_empty_index_scores_nothing():
    scorer = PhrasingScorer([], np.zeros((0, 4), np.float32), np.array([], int), [])
    rows, scores = scorer.score(np.ones(4, np.float32) / 2, "q")
    assert len(rows) == 0 and len(scores) == 0


def test_numpy_blas_runs_single_threaded_once_a_scorer_is_built():
    """Threaded OpenBLAS spinning after each product starved the next query's embedding (docs/benchmarks.md,
    100k chunks); the limit must hold in any process that serves retrieval."""
    import scipy.linalg  # noqa: F401  (loads a second OpenBLAS after retrieval.scoring was imported)
    from threadpoolctl import threadpool_info

    PhrasingScorer(["a"], np.ones((1, 4), np.float32) / 2, np.array([0]), ["vpn password"])
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)
