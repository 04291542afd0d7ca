"""Adapt the embedder to one FAQ: contrastive fine-tuning on the FAQ's own phrasings.

Measured on CLINC150 (docs/benchmarks.md): +8.8 points of hit@1 over the bundled MiniLM, for about
80 s on 2 CPU cores, whatever the FAQ's size (the cost is in the steps, not the entries).

Loss: symmetric in-batch negatives (MultipleNegativesRankingLoss in both directions). Each batch
holds distinct entries, one (anchor, positive) pair of phrasings per entry, so no negative is a
false one. Hard negatives (questions an admin said an entry does not answer: retrieval/negatives.py)
join an entry's row as one more negative column, so the entry's phrasings learn to sit further from
them than from each other. Always starts from the base embedder, never from an earlier tuned one:
no drift.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TuneParams:
    steps: int = 60
    learning_rate: float = 1e-4
    batch_entries: int = 32
    scale: float = 20.0
    warmup: float = 0.1
    seed: int = 0


class TuneError(ValueError):
    pass


def tune_embedder(
    base_path: str | Path,
    groups: Sequence[Sequence[str]],
    out_dir: str | Path,
    params: TuneParams = TuneParams(),
    progress: Callable[[int], None] | None = None,
    negatives: Sequence[Sequence[str]] | None = None,
) -> Path:
    """Fine-tune the sentence-transformers model at ``base_path`` so that phrasings of the same entry
    (one group each) embed close together, and away from ``negatives[i]`` (questions group i must not
    answer); save it (safetensors) to ``out_dir``."""
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
    order: list[int] = []
    for _step in range(params.steps):
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
