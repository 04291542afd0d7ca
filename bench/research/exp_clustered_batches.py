"""Research (issues 15 and 17): tuning batches built from entries and their nearest neighbours.

The embedder's tuning (retrieval/tune.py) ranks each phrasing's partner above the other entries of
its batch (in-batch negatives). Batches of random entries seldom hold the entries a question is
confused with (two joke entries, a "who made you" beside a "what is your name"), so tuning hardly
learns to tell those apart. Topic-aware batches (as in TAS-Balanced, Hofstätter et al., 2021) draw
each entry with its nearest entries. This runs the public bench (bench/retrieval_public.py, every
argument passed through) with every tuning in the process using clusters of ``--cluster`` entries
(1 is the shipped tuning), or, with ``--neighbour-negatives``, random batches where each anchor also
ranks one phrasing of one of its three nearest entries below its partner.

The tuning run is a copy of retrieval/tune.py's loop as of 2026-12-07 with these two changes
(``variant_tune_embedder``, below), so the product is unchanged; a later change to the product's
loop does not reach the copy.

    .venv/bin/python bench/research/exp_clustered_batches.py --cluster 4 --data /tmp/sets --sets chitchat_fr
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402

import retrieval.tune  # noqa: E402
from retrieval.tune import TuneError, TuneParams  # noqa: E402

VARIANT = {"cluster": 1, "mined": False}


def variant_tune_embedder(
    base_path: str | Path,
    groups: Sequence[Sequence[str]],
    out_dir: str | Path,
    params: TuneParams = TuneParams(),  # noqa: B008
    progress: Callable[[int], None] | None = None,
    negatives: Sequence[Sequence[str]] | None = None,
) -> Path:
    """retrieval/tune.py's tune_embedder (as of this commit) with the batches of VARIANT."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    negatives = negatives or [()] * len(groups)
    pairs_of = [
        (list(dict.fromkeys(g)), [n for n in dict.fromkeys(neg) if n not in g])
        for g, neg in zip(groups, negatives)
    ]
    usable = [g for g, _ in pairs_of if len(g) >= 2]
    hard = [neg for g, neg in pairs_of if len(g) >= 2]
    if len(usable) < 2:
        raise TuneError("tuning needs at least 2 entries with 2 or more phrasings (question + alt_questions)")
    torch.manual_seed(params.seed)
    rng = random.Random(params.seed)
    model = SentenceTransformer(str(base_path), device="cpu", local_files_only=True)
    model.train()
    batch_size = min(params.batch_entries, len(usable))
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=0.01)
    warm = max(1, int(params.warmup * params.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (params.steps - s) / max(1, params.steps - warm)))
    )
    near = max(VARIANT["cluster"], 2 if VARIANT["mined"] else 1)
    nearest = _nearest_entries(model, usable, near) if near > 1 else None
    neighbours = nearest if VARIANT["cluster"] > 1 else None
    order: list[int] = []
    for _step in range(params.steps):
        if neighbours is not None:
            batch = _clustered_batch(order, neighbours, batch_size, VARIANT["cluster"], len(usable), rng)
        else:
            if len(order) < batch_size:
                refill = list(range(len(usable)))
                rng.shuffle(refill)
                order += [e for e in refill if e not in order]
            batch, order = order[:batch_size], order[batch_size:]
        pairs = [rng.sample(usable[e], 2) for e in batch]
        a = F.normalize(model(model.preprocess([p[0] for p in pairs]))["sentence_embedding"], dim=-1)
        b = F.normalize(model(model.preprocess([p[1] for p in pairs]))["sentence_embedding"], dim=-1)
        logits = params.scale * a @ b.T
        labels = torch.arange(len(batch))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        if VARIANT["mined"] and nearest is not None:
            mined = [rng.choice(usable[rng.choice(nearest[e][:3])]) for e in batch]
            m = F.normalize(model(model.preprocess(mined))["sentence_embedding"], dim=-1)
            extra = params.scale * (a * m).sum(-1, keepdim=True)
            loss = loss + F.cross_entropy(torch.cat([logits, extra], dim=1), labels)
        with_hard = [i for i, e in enumerate(batch) if hard[e]]
        if with_hard:
            # Each such anchor's row gains its hard negative as one more column to rank below its positive.
            texts = [rng.choice(hard[batch[i]]) for i in with_hard]
            n = F.normalize(model(model.preprocess(texts))["sentence_embedding"], dim=-1)
            rows = torch.tensor(with_hard)
            extra = params.scale * (a[rows] * n).sum(-1, keepdim=True)
            loss = loss + F.cross_entropy(torch.cat([logits[rows], extra], dim=1), rows) * len(
                with_hard
            ) / len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress:
            progress(1)
    model.eval()
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save(str(tmp), safe_serialization=True)
    tmp.rename(out_dir)  # a crash never leaves a half-written embedder under the final name
    return out_dir


def _nearest_entries(model, groups: list[list[str]], k: int) -> list[list[int]]:
    """For each group, the other groups in order of closeness (cosine of their phrasings' centroids
    under the untrained model), at most 4k of them."""
    import numpy as np
    import torch

    model.eval()
    with torch.no_grad():
        vectors = model.encode(
            [t for g in groups for t in g], normalize_embeddings=True, convert_to_numpy=True
        )
    model.train()
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    centroids = np.zeros((len(groups), vectors.shape[1]), np.float32)
    np.add.at(centroids, owner, vectors)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, : 4 * k].tolist()


def _clustered_batch(
    order: list[int], neighbours: list[list[int]], size: int, cluster: int, n: int, rng: random.Random
) -> list[int]:
    """The next batch: entries taken in ``order`` (refilled, shuffled, when it runs out), each with
    up to ``cluster`` - 1 of its nearest entries not yet in the batch, which then leave ``order``."""
    batch: list[int] = []
    while len(batch) < size:
        if not order:
            order.extend(rng.sample(range(n), n))
        seed = order.pop(0)
        if seed in batch:
            continue
        batch.append(seed)
        added = 0
        for other in neighbours[seed]:
            if added == cluster - 1 or len(batch) == size:
                break
            if other not in batch:
                batch.append(other)
                added += 1
                if other in order:
                    order.remove(other)
    return batch


def main() -> None:
    args = sys.argv[1:]
    cluster = 1
    if "--cluster" in args:
        at = args.index("--cluster")
        cluster = int(args[at + 1])
        del args[at : at + 2]
    seed = 0
    if "--seed" in args:  # the shipped tuning with another seed: how far tuning's own noise moves the figures
        at = args.index("--seed")
        seed = int(args[at + 1])
        del args[at : at + 2]
    mined = "--neighbour-negatives" in args
    if mined:
        args.remove("--neighbour-negatives")
    VARIANT.update(cluster=cluster, mined=mined)
    # The container builds its TuneParams from retrieval.tune at call time (bot/container.py), and
    # IndexTuning calls the module's tune_embedder.
    retrieval.tune.TuneParams = functools.partial(TuneParams, seed=seed)
    retrieval.tune.tune_embedder = variant_tune_embedder
    print(f"# tuning: clusters of {cluster} entries; neighbour negatives: {mined}; seed {seed}", flush=True)
    sys.argv = [sys.argv[0], *args]
    retrieval_public.main()


if __name__ == "__main__":
    main()
