"""A (question, entry) pair an admin rejected stops ranking first after the next embedder tuning
(issue 17): real tuning of the bundled MiniLM on the sample FAQ, real Chroma, real SQL."""

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.faq import load_faq
from retrieval.negatives import record_hard_negative
from tests.support import SAMPLE_FAQ

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

QUESTION = "the tunnel thing for working from home rejects my secret word"


def test_a_rejected_pair_no_longer_ranks_first_after_the_next_tuning(data_dir):
    c = Container(Settings(data_dir=data_dir, tune_on_import=False))
    try:
        c.ensure_schema()
        c.index.import_items(load_faq(SAMPLE_FAQ))
        c.tune_embedder(steps=40)
        cited = c.index.search(QUESTION, 1)[0].id  # what the tuned index cites today
        assert record_hard_negative(c.sessions, QUESTION, cited, action="reject")
        c.tune_embedder(steps=40)
        assert c.index.search(QUESTION, 1)[0].id != cited
        # The entry still finds its own questions: the negative moved one pair, not the entry.
        entry = next(i for i in load_faq(SAMPLE_FAQ) if i.id == cited)
        assert c.index.search(entry.question, 1)[0].id == cited
    finally:
        c.close()
