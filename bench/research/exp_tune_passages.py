"""Issue #15 step 1: fine-tune MiniLM contrastively on an FAQ's own text when it has few or no
alternative phrasings: (question, answer passage) and (answer sentence as a pseudo-question, another
passage of the same entry) pairs, plus (phrasing, phrasing) pairs where alts exist (as
retrieval/tune.py). Symmetric in-batch negatives, one pair per distinct entry per batch, as the
product's tune.py. Never sees an evaluation query.

    nice -n 15 .venv/bin/python bench/research/exp_tune_passages.py --set doc2dial_gov_en --steps 80 \
        --out /tmp/sel_models/ft_d2d
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sel_common import build_layout, load_set, model_path  # noqa: E402


def pairs_for_entry(L, j, rng, doc_kind="hwin3"):
    """One training pair for entry j: (anchor, positive)."""
    units = [u for u, o in enumerate(L.unit_owner) if o == j]
    q_units = [u for u in units if L.unit_kind[u] == "q"]
    s_units = [u for u in units if L.unit_kind[u] != "q"]
    docs = [d for d, o in enumerate(L.doc_owner) if o == j and L.doc_kind[d] == doc_kind]
    choices = []
    if len(q_units) >= 2:
        choices.append("qq")
    if docs:
        choices.append("qd")
        if s_units:
            choices.append("sd")
    if not choices:
        return None
    c = rng.choice(choices)
    if c == "qq":
        a, b = rng.sample(q_units, 2)
        return L.unit_text[a], L.unit_text[b]
    if c == "qd":
        return L.unit_text[rng.choice(q_units)], L.doc_text[rng.choice(docs)]
    u = rng.choice(s_units)
    # a passage of the same entry that does not contain the sentence (else the pair is trivial)
    other = [d for d in docs if u not in L.doc_units[d]] or docs
    # the heading prefix is the entry's question; keep it: at query time documents carry it too
    return L.unit_text[u], L.doc_text[rng.choice(other)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--doc-kind", default="hwin3")
    ap.add_argument("--base", default="minilm")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    faq, _ = load_set(args.set)
    L = build_layout(faq, kinds=("q", args.doc_kind))
    torch.manual_seed(0)
    rng = random.Random(0)
    model = SentenceTransformer(model_path(args.base), device="cpu", local_files_only=True)
    model.max_seq_length = 128
    model.train()
    n = len(faq)
    usable = [j for j in range(n) if pairs_for_entry(L, j, random.Random(1), args.doc_kind)]
    bs = min(args.batch, len(usable))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, int(0.1 * args.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (args.steps - s) / max(1, args.steps - warm)))
    )
    order: list[int] = []
    t0 = time.time()
    for step in range(args.steps):
        if len(order) < bs:
            refill = usable[:]
            rng.shuffle(refill)
            order += [e for e in refill if e not in order]
        batch, order = order[:bs], order[bs:]
        pairs = [pairs_for_entry(L, j, rng, args.doc_kind) for j in batch]
        a = F.normalize(model(model.preprocess([p[0] for p in pairs]))["sentence_embedding"], dim=-1)
        b = F.normalize(model(model.preprocess([p[1] for p in pairs]))["sentence_embedding"], dim=-1)
        logits = args.scale * a @ b.T
        lab = torch.arange(len(batch))
        loss = (F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 20 == 0:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    model.max_seq_length = 256
    model.save(args.out, safe_serialization=True)
    print(f"saved {args.out} after {time.time() - t0:.0f}s ({args.steps} steps, {len(usable)} entries)")


if __name__ == "__main__":
    main()
