"""Adapt the embedder to one FAQ: contrastive fine-tuning on the FAQ's own phrasings.

Measured on CLINC150 (docs/benchmarks.md): +8.8 points of hit@1 over the bundled MiniLM, for about
80 s on 2 CPU cores, whatever the FAQ's size (the cost is in the steps, not the entries).

Loss: symmetric in-batch negatives (MultipleNegativesRankingLoss in both directions). Each batch
holds distinct entries, one (anchor, positive) pair of phrasings per entry, so no negative is a
false one. Hard negatives (questions an admin said an entry does not answer: retrieval/negatives.py)
join an entry's row as one more negative column, so the entry's phrasings learn to sit further from
them than from each other. Always starts from the base embedder, never from an earlier tuned one:
no drift. One learned phrasing in five (retrieval/calibration.py: held_out_of_tuning) is left out of
the training pairs, still indexed: calibration asks those as new questions to set the threshold.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bot.db.models import FaqEntry, IndexState
from retrieval.calibration import held_out_of_tuning
from retrieval.writes import IndexBusy, Progress


@dataclass(frozen=True)
class TuneParams:
    steps: int = 60
    learning_rate: float = 1e-4
    batch_entries: int = 32
    scale: float = 20.0
    warmup: float = 0.1
    seed: int = 0
    # Keep the token-embedding table the base model's: no gradient and no optimizer state for it,
    # which is what lets a large multilingual embedder be tuned on a small machine (200M of
    # EmbeddingGemma's 300M weights are its table: 6 min, 7.7 GB on 2 cores). Off: the bundled
    # MiniLM tunes to the same figures either way (bench/research/results/freeze_embeddings.txt).
    freeze_token_embeddings: bool = False


class TuneError(ValueError):
    pass


def tune_embedder(
    base_path: str | Path,
    groups: Sequence[Sequence[str]],
    out_dir: str | Path,
    params: TuneParams = TuneParams(),
    progress: Callable[[int], None] | None = None,
    negatives: Sequence[Sequence[str]] | None = None,
    prompt: str = "",
) -> Path:
    """Fine-tune the sentence-transformers model at ``base_path`` so that phrasings of the same entry
    (one group each) embed close together, and away from ``negatives[i]`` (questions group i must not
    answer); save it (safetensors) to ``out_dir``. ``prompt``: what the embedder puts before every
    text it embeds (retrieval/embedder.py), so the model learns the texts as it will read them."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    negatives = negatives or [()] * len(groups)
    pairs_of = [
        (
            [prompt + t for t in dict.fromkeys(g)],
            [prompt + n for n in dict.fromkeys(neg) if n not in g],
        )
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
    if params.freeze_token_embeddings:
        model[0].auto_model.get_input_embeddings().weight.requires_grad_(False)
    batch_size = min(params.batch_entries, len(usable))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=params.learning_rate, weight_decay=0.01)
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


class TuneBusy(IndexBusy, TuneError):
    """IndexBusy raised by tuning: callers that report a tuning that could not run (the CLI, the
    nightly job) handle it as a TuneError."""


class IndexTuning:
    """FaqIndex's tuning: the embedder tuned on the FAQ's phrasings, and everything re-indexed with
    it; the configuration these methods use is set by FaqIndex.__init__ (retrieval/index.py)."""

    # ---- tuning the embedder to this FAQ --------------------------------------------------------
    def tune(
        self,
        out_root: Path,
        params: TuneParams = TuneParams(),
        progress: Progress | None = None,
        reembed_progress: Progress | None = None,
    ) -> Path:
        """Fine-tune the base embedder on this FAQ's phrasings and re-index everything with it.

        The new vectors go into a new collection; SQL switches to it (and to the new embedder) in one
        transaction at the end, so a crash at any point leaves the index serving as before. Holds the
        index lock: an import running meanwhile would write to the collection being replaced.
        """
        with self.writer_lock.hold() as got:
            if not got:
                raise TuneBusy("another `supportbot faq import` or tuning is writing this FAQ index")
            return self._tune(out_root, params, progress, reembed_progress)

    def _tune(
        self,
        out_root: Path,
        params: TuneParams,
        progress: Progress | None,
        reembed_progress: Progress | None,
    ) -> Path:
        revision, old_path, old_collection = self._current()
        with self.sessions() as session:
            entries = list(session.scalars(select(FaqEntry).order_by(FaqEntry.id)))
            learned = self._learned(session)
        # One learned phrasing in five never trains the embedder: calibration asks them as new
        # questions to set the threshold (retrieval/calibration.py, "what admins confirmed").
        groups = [
            [e.question, *e.alt_questions, *(t for t in learned.get(e.id, []) if not held_out_of_tuning(t))]
            for e in entries
        ]
        from retrieval.negatives import negatives_by_entry

        wrong_for = negatives_by_entry(self.sessions)  # what admins said each entry does not answer
        negatives = [wrong_for.get(e.id, []) for e in entries]
        base = self.base_embedder
        from retrieval.embedder import bundled_model_path

        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-r{revision}"
        out_dir = tune_embedder(
            base or bundled_model_path(),
            groups,
            out_root / f"embedder-{stamp}",
            params,
            progress,
            negatives=negatives,
            prompt=getattr(self._embedder_for(base), "prompt", ""),
        )
        collection = f"{self.default_collection}-{stamp}".replace(":", "-")[:60]
        store = self.store(collection)
        for start in range(0, len(entries), self.IMPORT_BATCH):
            batch = entries[start : start + self.IMPORT_BATCH]
            docs = [
                (e.id, d)
                for e in batch
                for d in self._texts(e.id, e.question, e.alt_questions, e.answer, learned.get(e.id, []))
            ]
            store.upsert(self._vector_docs(docs, str(out_dir), "tune"))
            if reembed_progress:
                reembed_progress(len(batch))
        with self.sessions() as session:
            self._bump(
                session,
                embedder_path=str(out_dir),
                collection=collection,
                tuned_revision=IndexState.revision + 1,
            )
            session.commit()
        if old_collection != collection and old_collection != self.default_collection:
            self.store(old_collection).drop()  # the previous tuned copy; the default one is kept
            self._stores.pop(old_collection, None)
        # Nightly re-tunes would pile up ~90 MB a night: keep this embedder and the one before it (a
        # process that read the old path just before the switch may still be loading it).
        for stale in out_root.glob("embedder-*"):
            if stale.is_dir() and stale != out_dir and str(stale) != old_path:
                shutil.rmtree(stale, ignore_errors=True)
        return out_dir

    def is_tuned(self) -> bool:
        return self._current()[1] is not None

    def tuning_is_stale(self) -> bool:
        """Tuned, but the FAQ has changed since (learned phrasings, curated entries, imports)."""
        with self.sessions() as session:
            state = session.get(IndexState, 1)
            return bool(state and state.embedder_path and state.revision != state.tuned_revision)
