"""The grounding guard on faithful and corrupted answers built from public FAQ sets.

For each entry of each set (read at run time from ../shared/data/<set>/, nothing copied), a
seeded generator writes faithful variants of its answer (the entry as written, sentence subsets in
order, light rewording) and corrupted ones, one per kind the guard must catch (negation flipped,
number, unit or date changed, name or contact changed, subject and object swapped or collapsed
into one, a sentence spliced in from another entry, the last sentence truncated, repetition). Each
variant goes through the guard as the answer service calls it (source: the entry's question and
answer; question: a real user query for the entry where the set has one) and through the
word-level guard alone (the baseline). Reports acceptance per kind and per set (language).

    .venv/bin/python bench/faithfulness_guard.py [--sets doc2dial_gov_en chitchat_fr chitchat_es]
        [--seed 16] [--json OUT.json] [--examples N]

Targets (issue 16): >= 95% of corruptions rejected, >= 90% of faithful variants accepted.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from word_guard import STOPWORDS, check_words  # noqa: E402  (bench/, the script's own folder)

from bot.services import grounding  # noqa: E402
from bot.services.faithfulness import sentences  # noqa: E402
from retrieval.language import analyzer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = {"doc2dial_gov_en": "en", "chitchat_fr": "fr", "chitchat_es": "es"}
FAITHFUL = ("entry", "subset", "reworded")
CORRUPT = (
    "negation",
    "number",
    "unit",
    "date",
    "name",
    "contact",
    "swap",
    "collapse",
    "splice",
    "truncated",
    "repetition",
)

LEAD_IN = {"en": "Yes, ", "fr": "Oui, ", "es": "Sí, "}
AND = {"en": "and", "fr": "et", "es": "y"}
UNITS = {
    "en": "minutes hours days weeks months years percent dollars".split(),
    "fr": "minutes heures jours semaines mois ans années euros".split(),
    "es": "minutos horas días semanas meses años euros dólares".split(),
}
UNITS1 = {
    "en": "minute hour day week month year dollar".split(),
    "fr": "minute heure jour semaine an année euro".split(),
    "es": "minuto hora día semana mes año euro dólar".split(),
}
MONTHS = {
    "en": "January February March April June July August September October November December".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}
DAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
# Negation, added or removed, the way each language writes it.
NEG_REMOVE = {
    "en": [
        (r"\b(can)not\b", r"\1"),
        (r"\b(\w+)n't\b", r"\1"),
        (r"\b(\w+) not\b", r"\1"),
        (r"\bnever\b", "always"),
    ],
    "fr": [(r"\bn'(\w+) (pas|jamais|plus|rien)\b", r"\1"), (r"\bne (\w+) (pas|jamais|plus|rien)\b", r"\1")],
    "es": [(r"\b[Nn]o (\w+)", r"\1"), (r"\bnunca\b", "siempre")],
}
NEG_ADD = {
    "en": [
        (r"\b(is|are|was|were|will|should|must|could|would|does|do|did|has|have|may|might)\b", r"\1 not"),
        (r"\bcan\b", "cannot"),
    ],
    "fr": [
        (r"\b(c)'est\b", r"\1e n'est pas"),
        (r"\b(je|tu|il|elle|on|nous|vous|ils|elles) ([aeiouyéèêh]\w*)", r"\1 n'\2 pas"),
        (r"\b(je|tu|il|elle|on|nous|vous|ils|elles) (\w+)", r"\1 ne \2 pas"),
    ],
    "es": [
        (
            r"\b(me|te|se|lo|la|le|les|es|está|están|soy|estoy|son|puedo|puede|pueden|tengo|tiene|tienen|hay|sé|sabe"
            r"|voy|va|gusta|quiero|necesito|debe|debes)\b",
            r"no \1",
        ),
    ],
}
_PHONE = re.compile(r"\+?\(?\d{1,4}\)?(?:\s{0,2}[-–.\s/]\s{0,2}\(?\d{2,4}\)?){2,}")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def load(name: str) -> tuple[list[dict], dict[str, str]]:
    folder = DATA / name
    with open(folder / "faq.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["answer"].strip()]
    queries: dict[str, str] = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if q.get("expected_id") and q["expected_id"] not in queries:
                queries[q["expected_id"]] = q["query"]
    return rows, queries


@cache
def content(lang: str, word: str) -> bool:
    """A content word: kept by the language's analyzer, not a function word (bm25s's English list
    is short, so the old guard's English function words are added), longer than two letters."""
    low = word.casefold()
    if lang == "en" and low in STOPWORDS:
        return False
    return bool(analyzer(lang).tokens(word)) and len(word) > 2


def sub_once(pattern: str, repl: str, text: str, rng: random.Random) -> str | None:
    """``text`` with one match of ``pattern`` (chosen at random) replaced, or None."""
    matches = list(re.finditer(pattern, text))
    if not matches:
        return None
    m = rng.choice(matches)
    return text[: m.start()] + m.expand(repl) + text[m.end() :]


def cap_like(new: str, old: str) -> str:
    return new[:1].upper() + new[1:] if old[:1].isupper() else new


def join(sents: list[str]) -> str:
    """Sentences as an answer: a line break after one without a full stop (a heading, a list item)."""
    out = ""
    for s in sents:
        out += s if not out else ((" " if re.search(r"[.!?…。]['\")]*$", out) else "\n") + s)
    return out


# ------------------------------------------------------------------------------ faithful variants


def reword(sents: list[str], lang: str, rng: random.Random) -> str | None:
    """One or two light rewordings that keep every claim: a lead-in ("Yes, "), two sentences joined
    with "and", a contraction, a parenthesis dropped, "can" as "may", "!" for "."."""
    out = list(sents)
    moves = []
    if len(out) >= 2:
        moves.append("join")
    if any("(" in s and ")" in s for s in out):
        moves.append("paren")
    if lang == "en" and any(re.search(r"\b(do|does|is|are|can)( )?not\b|\bcan\b(?! ?t\b)", s) for s in out):
        moves.append("contract")
    moves += ["lead", "bang"]
    for move in rng.sample(moves, k=min(len(moves), rng.choice((1, 2)))):
        if move == "join":
            i = rng.randrange(len(out) - 1)
            a, b = out[i].rstrip(), out[i + 1]
            if a[-1:] in ".!?":
                a = a[:-1]
            first = b.split(" ", 1)[0]
            if first[1:].islower():
                b = b[:1].lower() + b[1:]
            out[i : i + 2] = [f"{a}, {AND[lang]} {b}"]
        elif move == "paren":
            i = next(k for k, s in enumerate(out) if "(" in s and ")" in s)
            out[i] = re.sub(r"\s*\([^()]*\)", "", out[i], count=1)
        elif move == "contract":
            i = next(
                k
                for k, s in enumerate(out)
                if re.search(r"\b(do|does|is|are|can)( )?not\b|\bcan\b(?! ?t\b)", s)
            )
            s = re.sub(r"\b(do|does|is|are)( )not\b", r"\1n't", out[i], count=1)
            if s == out[i]:
                s = re.sub(r"\bcannot\b", "can't", s, count=1)
            if s == out[i]:
                s = re.sub(r"\bcan\b(?! ?t\b)", "may", s, count=1)
            out[i] = s
        elif move == "lead":
            first = out[0].split(" ", 1)[0]
            body = out[0][:1].lower() + out[0][1:] if first[1:].islower() else out[0]
            out[0] = LEAD_IN[lang] + body
        elif move == "bang":
            i = rng.randrange(len(out))
            if out[i].endswith("."):
                out[i] = out[i][:-1] + "!"
    text = join(out)
    return text if text != join(sents) else None


def faithful_variants(sents: list[str], lang: str, rng: random.Random) -> dict[str, str]:
    out = {"entry": join(sents)}
    if len(sents) >= 2:
        k = rng.randint(1, len(sents) - 1)
        keep = sorted(rng.sample(range(len(sents)), k))
        out["subset"] = join([sents[i] for i in keep])
    r = reword(sents, lang, rng)
    if r:
        out["reworded"] = r
    return out


# ------------------------------------------------------------------------------- corruptions


def window(sents: list[str], i: int, rng: random.Random) -> tuple[list[str], int]:
    """Up to three consecutive sentences holding sentence ``i`` (an answer's length), and where it is."""
    lo = max(0, i - rng.randint(0, 2))
    hi = min(len(sents), max(i + 1, lo + 3))
    return sents[lo:hi], i - lo


def corrupt_sentence(kind: str, s: str, lang: str, rng: random.Random, others: list[str]) -> str | None:
    if kind == "negation":
        for pattern, repl in NEG_REMOVE[lang]:
            if re.search(pattern, s):
                return sub_once(pattern, repl, s, rng)
        for pattern, repl in NEG_ADD[lang]:
            if re.search(pattern, s, flags=0):
                return sub_once(pattern, repl, s, rng)
        return None
    if kind == "number":
        masked = _URL.sub(lambda m: "#" * len(m.group(0)), s)
        masked = _PHONE.sub(
            lambda m: "#" * len(m.group(0)) if len(re.sub(r"\D", "", m.group(0))) >= 7 else m.group(0), masked
        )
        nums = [m for m in re.finditer(r"\d+", masked)]
        if not nums:
            return None
        m = rng.choice(nums)
        n = int(m.group(0))
        new = str(n + rng.randint(1, 9)) if n < 1000 or rng.random() < 0.5 else str(n - rng.randint(1, 9))
        return s[: m.start()] + new.zfill(len(m.group(0))) + s[m.end() :]
    if kind == "unit":
        plural, single = UNITS[lang], UNITS1[lang]
        found = list(re.finditer(r"\d\s*(\w+)", s))
        found = [m for m in found if m.group(1).lower() in plural + single]
        if not found:
            return None
        m = rng.choice(found)
        old = m.group(1)
        pool = plural if old.lower() in plural else single
        new = rng.choice([u for u in pool if u != old.lower()])
        return s[: m.start(1)] + cap_like(new, old) + s[m.end(1) :]
    if kind == "date":
        names = MONTHS[lang] + DAYS[lang]
        found = [m for m in re.finditer(r"\w+", s) if m.group(0).lower() in {n.lower() for n in names}]
        if not found:
            return None
        m = rng.choice(found)
        pool = MONTHS[lang] if m.group(0).lower() in {n.lower() for n in MONTHS[lang]} else DAYS[lang]
        new = rng.choice([n for n in pool if n.lower() != m.group(0).lower()])
        return s[: m.start()] + cap_like(new, m.group(0)) + s[m.end() :]
    if kind == "name":
        words = list(re.finditer(r"\w+", s))
        found = [m for k, m in enumerate(words) if k > 0 and _name_like(m.group(0))]
        if not found:
            return None
        m = rng.choice(found)
        pool = sorted({o for o in others if o.lower() not in s.lower()})
        if not pool:
            return None
        return s[: m.start()] + rng.choice(pool) + s[m.end() :]
    if kind == "contact":
        spots = [m for m in _URL.finditer(s)]
        spots += [m for m in _PHONE.finditer(s) if len(re.sub(r"\D", "", m.group(0))) >= 7]
        if not spots:
            return None
        m = rng.choice(spots)
        text = m.group(0)
        if "@" in text or "." in text and not text[0].isdigit() and not text[0] == "+":
            letters = [k for k, ch in enumerate(text) if ch.isalpha()]
            k = rng.choice(letters[1:-1] or letters)
            new = text[:k] + ("x" if text[k] != "x" else "z") + text[k + 1 :]
        else:
            digits = [k for k, ch in enumerate(text) if ch.isdigit()]
            k = rng.choice(digits[-4:])
            new = text[:k] + str((int(text[k]) + rng.randint(1, 9)) % 10) + text[k + 1 :]
        return s[: m.start()] + new + s[m.end() :]
    if kind in ("swap", "collapse"):
        # Subject and object: the first and the last content word of one clause.
        clauses = [m for m in re.finditer(r"[^,;:()]+", s)]
        options = []
        for c in clauses:
            ws = [m for m in re.finditer(r"\w+", c.group(0)) if content(lang, m.group(0))]
            if len(ws) >= 3 and ws[0].group(0).lower() != ws[-1].group(0).lower():
                options.append((c, ws[0], ws[-1]))
        if not options:
            return None
        c, a, b = rng.choice(options)
        base = c.start()
        a0, a1, b0, b1 = base + a.start(), base + a.end(), base + b.start(), base + b.end()
        wa, wb = a.group(0), b.group(0)
        first = wb if kind == "swap" else wa
        if a0 == 0 or s[:a0].strip() == "":
            first = cap_like(first, wa)
        last = wa if kind == "swap" else wa
        if kind == "swap" and wa[:1].isupper() and not wa[1:].isupper() and a0 == 0:
            last = wa[:1].lower() + wa[1:] if not _name_like(wa) else wa
        elif kind == "collapse" and a0 == 0 and not _name_like(wa):
            last = wa[:1].lower() + wa[1:]
        return s[:a0] + first + s[a1:b0] + last + s[b1:]
    return None


def _name_like(word: str) -> bool:
    if len(word) < 2 or any(ch.isdigit() for ch in word):
        return False
    return word[0].isupper() and (word[1:].islower() or word.isupper())


def corruptions(
    sents: list[str], lang: str, rng: random.Random, donors: list[str], names: list[str]
) -> dict[str, str]:
    out = {}
    for kind in CORRUPT:
        order = list(range(len(sents)))
        rng.shuffle(order)
        if kind == "splice":
            i = rng.randrange(len(sents))
            base, j = window(sents, i, rng)
            pool = [d for d in donors if d not in sents]
            if pool:
                k = rng.randint(0, len(base))
                out[kind] = join(base[:k] + [rng.choice(pool)] + base[k:])
            continue
        if kind == "truncated":
            i = rng.randrange(len(sents))
            base, j = window(sents, i, rng)
            last = base[-1]
            words = last.split()
            if len(words) < 4:
                continue
            for _ in range(5):
                k = rng.randint(max(1, len(words) // 3), max(1, (3 * len(words)) // 4))
                dropped = " ".join(words[k:])
                if any(content(lang, w) for w in re.findall(r"\w+", dropped)):
                    cut = " ".join(words[:k]).rstrip(".!?…;,:")
                    out[kind] = join(base[:-1] + [cut])
                    break
            continue
        if kind == "repetition":
            i = rng.randrange(len(sents))
            base, j = window(sents, i, rng)
            if rng.random() < 0.5:
                out[kind] = join(base[: j + 1] + [base[j]] + base[j + 1 :])
            else:
                words = base[j].split()
                if len(words) < 4:
                    out[kind] = join(base[: j + 1] + [base[j]] + base[j + 1 :])
                else:
                    n = rng.randint(3, min(5, len(words)))
                    k = rng.randint(0, len(words) - n)
                    phrase = words[k : k + n]
                    words = words[: k + n] + [w.rstrip(".,;:!?") for w in phrase] + words[k + n :]
                    base = base[:j] + [" ".join(words)] + base[j + 1 :]
                    out[kind] = join(base)
            continue
        for i in order:
            changed = corrupt_sentence(kind, sents[i], lang, rng, names)
            if changed and changed != sents[i]:
                base, j = window(sents, i, rng)
                base = base[:j] + [changed] + base[j + 1 :]
                out[kind] = join(base)
                break
    return out


# ----------------------------------------------------------------------------------- run


def variants(name: str, lang: str, seed: int):
    rows, queries = load(name)
    all_sents = {r["id"]: sentences(r["answer"]) for r in rows}
    # Sentences another entry can lend to a splice: ones that say something (two content words).
    sayers = {
        rid: [s for s in ss if sum(content(lang, w) for w in re.findall(r"\w+", s)) >= 2]
        for rid, ss in all_sents.items()
    }
    for r in rows:
        rng = random.Random(f"{seed}:{name}:{r['id']}")
        sents = all_sents[r["id"]]
        if not sents:
            continue
        donors = [s for rid, ss in sayers.items() if rid != r["id"] for s in ss]
        donors = rng.sample(donors, k=min(40, len(donors)))
        names = sorted(
            {
                w
                for d in donors
                for k, w in enumerate(re.findall(r"\w+", d))
                if k > 0 and _name_like(w) and len(w) > 2 and content(lang, w)
            }
        )
        source = f"{r['question']}\n{r['answer']}"
        question = queries.get(r["id"], r["question"])
        for kind, text in faithful_variants(sents, lang, rng).items():
            yield r["id"], kind, True, text, source, question
        for kind, text in corruptions(sents, lang, rng, donors, names).items():
            yield r["id"], kind, False, text, source, question


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--examples", type=int, default=0, help="print N missed variants per kind")
    args = ap.parse_args()

    results: dict = {}
    missed: dict = defaultdict(list)
    started = time.perf_counter()
    n_checks = 0
    for name in args.sets:
        lang = SETS[name]
        tally: dict = defaultdict(lambda: {"n": 0, "new": 0, "baseline": 0, "reasons": Counter()})
        for eid, kind, good, text, source, question in variants(name, lang, args.seed):
            g = grounding.check(text, source, question)
            b = check_words(text, source, question)
            n_checks += 1
            t = tally[kind]
            t["n"] += 1
            t["new"] += g.grounded
            t["baseline"] += b.grounded
            if not g.grounded:
                t["reasons"][g.reason] += 1
            if g.grounded != good:
                missed[(name, kind)].append((eid, text, g.why))
        results[name] = {"language": lang, "kinds": dict(tally)}

    elapsed = time.perf_counter() - started
    print(
        f"guard benchmark: sets {', '.join(args.sets)}; seed {args.seed}; {n_checks} variants, {elapsed:.0f} s"
    )
    print(
        "accepted share per kind (new sentence-level guard | baseline word-level check_words, bench/word_guard.py)\n"
    )
    header = f"{'kind':<12}" + "".join(f"{n[:15]:>26}" for n in args.sets) + f"{'all':>22}"
    print(header)
    summary: dict = {}
    for kinds in (FAITHFUL, CORRUPT):
        for kind in kinds:
            cells, tot = [], [0, 0, 0]
            for name in args.sets:
                t = results[name]["kinds"].get(kind)
                if not t or not t["n"]:
                    cells.append(f"{'-':>26}")
                    continue
                tot = [tot[0] + t["n"], tot[1] + t["new"], tot[2] + t["baseline"]]
                cells.append(f"{t['new'] / t['n']:>9.1%} | {t['baseline'] / t['n']:>6.1%} (n={t['n']:>3})")
            all_cell = f"{tot[1] / tot[0]:>7.1%} | {tot[2] / tot[0]:>6.1%}" if tot[0] else "-"
            summary[kind] = {"n": tot[0], "accepted": tot[1] / tot[0] if tot[0] else None}
            print(f"{kind:<12}" + "".join(cells) + f"{all_cell:>22}")
        print()

    def share(names, kinds, key):
        n = sum(results[s]["kinds"][k]["n"] for s in names for k in kinds if k in results[s]["kinds"])
        a = sum(results[s]["kinds"][k][key] for s in names for k in kinds if k in results[s]["kinds"])
        return a / n if n else float("nan"), n

    print("per set (language)          faithful accepted (new | base)   corruptions rejected (new | base)")
    totals = {}
    for name in [*args.sets, None]:
        names = args.sets if name is None else [name]
        fa, fn = share(names, FAITHFUL, "new")
        fb, _ = share(names, FAITHFUL, "baseline")
        ca, cn = share(names, CORRUPT, "new")
        cb, _ = share(names, CORRUPT, "baseline")
        label = "all" if name is None else f"{name} ({SETS[name]})"
        totals[label] = {
            "faithful_accepted": round(fa, 4),
            "faithful_accepted_baseline": round(fb, 4),
            "n_faithful": fn,
            "corrupt_rejected": round(1 - ca, 4),
            "corrupt_rejected_baseline": round(1 - cb, 4),
            "n_corrupt": cn,
        }
        print(
            f"{label:<28} {fa:>8.1%} | {fb:>6.1%} (n={fn:>4})        {1 - ca:>8.1%} | {1 - cb:>6.1%} (n={cn:>4})"
        )
    ok = totals["all"]["faithful_accepted"] >= 0.90 and totals["all"]["corrupt_rejected"] >= 0.95
    print(f"\ntargets (>= 90% faithful accepted, >= 95% corruptions rejected): {'met' if ok else 'NOT met'}")
    reasons = Counter()
    for name in args.sets:
        for kind in CORRUPT:
            reasons.update(results[name]["kinds"].get(kind, {}).get("reasons", {}))
    print(
        "rejections of corrupted variants by check:", ", ".join(f"{r} {n}" for r, n in reasons.most_common())
    )
    if args.examples:
        for (name, kind), items in sorted(missed.items()):
            print(f"\n-- {name} / {kind}: {len(items)} wrong verdicts")
            for eid, text, why in items[: args.examples]:
                print(f"   [{eid}] {text[:300]!r}\n      why: {why or '(accepted)'}")
    if args.json:
        for name in results:
            for t in results[name]["kinds"].values():
                t["reasons"] = dict(t["reasons"])
        args.json.write_text(json.dumps({"sets": results, "totals": totals, "seed": args.seed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
