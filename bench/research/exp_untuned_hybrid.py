"""An untuned index ranks a question in a language the embedder does not read on words alone. For
Latin-script languages the English MiniLM still carries signal (untuned, plain dense hit@1 on the
chit-chat sets: de 0.588, it 0.688, fr 0.581 against 0.47-0.55 on words): does fusing it with the
words ("hybrid", as a tuned index does, never the embedder alone) rank and abstain better? This
patches the routing (retrieval/search.py IndexSearch._mode) and runs bench/retrieval_public.py
unchanged, so the figures compare with a plain run of the same command:

    .venv/bin/python bench/research/exp_untuned_hybrid.py -- --no-tune --data /tmp/sets --sets chitchat_de
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import search  # noqa: E402


def main() -> None:
    def mode(self, snap, language):
        return search.SEMANTIC if self._reads(language) else search.HYBRID

    search.IndexSearch._mode = mode
    print("# every question the embedder does not read is ranked hybrid (embedder + words), tuned or not")
    import retrieval_public

    sys.argv = ["retrieval_public.py", *[a for a in sys.argv[1:] if a != "--"]]
    retrieval_public.main()


if __name__ == "__main__":
    main()
