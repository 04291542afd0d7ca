"""Character n-grams beside the words in lexical matching, measured through the product.

German (and Dutch, Swedish, ...) write compounds as one word: "Urlaubstage" shares no word with
"Wie viele Tage Urlaub habe ich?", and a Snowball stemmer does not split it. Character n-grams of
each word, added beside the stemmed words, let a part of a compound match (McNamee & Mayfield,
"Character N-Gram Tokenization for European Language Text Retrieval", 2004). This patches the
product's analyzer (retrieval/language.py) and runs bench/retrieval_public.py unchanged, so the
figures compare with a plain run of the same command:

    .venv/bin/python bench/research/exp_char_ngrams.py --n 4 --languages de -- --data /tmp/sets --sets chitchat_de
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import language  # noqa: E402

MARK = "\u00b7"  # n-grams live apart from words: "tage" the word is not "·tage" the n-gram


def patch(n: int, languages: set[str] | None, min_len: int) -> None:
    original = language.Analyzer.tokens

    def tokens(self, text: str) -> list[str]:
        out = original(self, text)
        if languages is not None and self.language not in languages:
            return out
        stop = self._stop
        for word in language.words(text):
            if word in stop or len(word) < max(n, min_len) or any(language.is_cjk(c) for c in word):
                continue
            out.extend(MARK + word[i : i + n] for i in range(len(word) - n + 1))
        return out

    language.Analyzer.tokens = tokens
    language.analyzer.cache_clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--min-len", type=int, default=0, help="only words of at least this many characters")
    ap.add_argument("--languages", default="", help="comma-separated; empty: every language")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then bench/retrieval_public.py's arguments")
    args = ap.parse_args()
    patch(args.n, set(args.languages.split(",")) if args.languages else None, args.min_len)
    print(
        f"# character {args.n}-grams beside words, languages: {args.languages or 'all'}, min length {args.min_len}"
    )
    import retrieval_public

    sys.argv = ["retrieval_public.py", *[a for a in args.rest if a != "--"]]
    retrieval_public.main()


if __name__ == "__main__":
    main()
