"""Print a markdown table from bench/research/results/rank_*.json (exp_rank.py outputs)."""

import json
import sys
from pathlib import Path

R = Path(__file__).resolve().parent / "results"
files = sys.argv[1:] or sorted(str(p) for p in R.glob("rank_*.json"))
print("| file | method | hit@1 | hit@5 | MRR | abst. signal | oos_abstain | in_scope_answered |")
print("|---|---|---|---|---|---|---|---|")
for f in files:
    for r in json.load(open(f)):
        print(
            f"| {Path(f).stem} | {r['method']} | {r['hit@1']:.4f} | {r['hit@5']:.4f} | {r['MRR']:.4f} | "
            f"{r['abst_signal']} | {r['oos_abstain']:.3f} | {r['in_scope_answered']:.3f} |"
        )
