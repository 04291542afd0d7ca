"""Import-time contrastive fine-tuning of MiniLM on the FAQ's own phrasings (research only).

Loss: symmetric in-batch-negatives InfoNCE (= MultipleNegativesRankingLoss, both directions); each batch
holds B *distinct* entries, one (anchor, positive) pair of phrasings per entry, so no false negatives.

Usage:
  python bench/research/finetune_ft.py grid   [--k 5]            # small grid, scored on a val subset
  python bench/research/finetune_ft.py save   --steps S --lr LR [--k 5] [--subset-seed N --subset 50]
        -> writes /tmp/research_cache/ft_<cfg>/ (a sentence-transformers folder) and prints the train time
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    CACHE,
    aggregate,
    build_faq,
    centroid_scores,
    get_model,
    load_data,
    queries,  # noqa
    rank_metrics,
)


def finetune(
    phr, owner, steps=100, lr=5e-5, B=32, scale=20.0, seed=0, warmup=0.1, base="minilm", verbose=False
):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = copy.deepcopy(get_model(base))
    model.train()
    groups = {}
    for t, o in zip(phr, owner):
        groups.setdefault(int(o), []).append(t)
    ents = [e for e, g in groups.items() if len(g) >= 2]
    B = min(B, len(ents))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    nw = max(1, int(warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / nw, max(0.0, (steps - s) / max(1, steps - nw)))
    )
    order: list[int] = []
    t0 = time.perf_counter()
    for step in range(steps):
        if len(order) < B:
            extra = ents[:]
            rng.shuffle(extra)
            order += [e for e in extra if e not in order[:B]]
        batch, order = order[:B], order[B:]
        pairs = [rng.sample(groups[e], 2) for e in batch]
        a = [p[0] for p in pairs]
        b = [p[1] for p in pairs]
        fa = model.tokenize(a)
        fb = model.tokenize(b)
        ea = F.normalize(model(fa)["sentence_embedding"], dim=-1)
        eb = F.normalize(model(fb)["sentence_embedding"], dim=-1)
        logits = scale * ea @ eb.T
        lab = torch.arange(len(batch))
        loss = (F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if verbose and step % 20 == 0:
            print(f"  step {step} loss {loss.item():.4f} {time.perf_counter() - t0:.1f}s", flush=True)
    model.eval()
    return model, time.perf_counter() - t0


def enc(model, texts):
    return model.encode(
        texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["grid", "save"])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--B", type=int, default=32)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid", default="30:1e-4:20,60:1e-4:20", help="steps:lr:scale,...")
    ap.add_argument("--subset", type=int, default=0, help="train on a random subset of N intents")
    ap.add_argument("--subset-seed", type=int, default=0)
    a = ap.parse_args()
    data = load_data()
    names, phr, owner = build_faq(data, a.k)
    if a.subset:
        sel = sorted(random.Random(a.subset_seed).sample(names, a.subset))
        names, phr, owner = build_faq(data, a.k, sel)
    if a.mode == "save":
        m, secs = finetune(phr, owner, a.steps, a.lr, a.B, a.scale, a.seed, verbose=True)
        cfg = f"ft_k{a.k}_s{a.steps}_lr{a.lr:g}_B{a.B}_sc{a.scale:g}_seed{a.seed}" + (
            f"_sub{a.subset}-{a.subset_seed}" if a.subset else ""
        )
        m.save(str(CACHE / cfg))
        print(f"TRAIN_SECONDS {secs:.1f} saved {CACHE / cfg}")
        return
    # grid: score on a fixed val subset (1000 in-scope queries) for speed
    vq, vy = queries(data, "val", names)
    idx = np.random.RandomState(0).choice(len(vq), 1000, replace=False)
    vq = [vq[i] for i in idx]
    vy = vy[idx]
    E = len(names)
    # 2 CPU cores: one step (32 pairs) costs ~2-3 s, so the grid is kept tiny
    grid = [tuple(map(float, g.split(":"))) for g in a.grid.split(",")]
    for steps, lr, sc in grid:
        steps = int(steps)
        m, secs = finetune(phr, owner, steps, lr, a.B, sc, a.seed)
        m.save(str(CACHE / f"ft_k{a.k}_s{steps}_lr{lr:g}_B{a.B}_sc{sc:g}_seed{a.seed}"))
        P, Q = enc(m, phr), enc(m, vq)
        s = Q @ P.T
        mx = rank_metrics(aggregate(s, owner, E, "max"), vy)["hit@1"]
        cen = rank_metrics(centroid_scores(Q, P, owner, E), vy)["hit@1"]
        print(
            f"steps={steps} lr={lr:g} scale={sc} B={a.B} train={secs:.1f}s  val1000 hit@1 max={mx:.4f} "
            f"centroid={cen:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
