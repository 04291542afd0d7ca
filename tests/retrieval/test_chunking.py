from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunking import chunk_text


def test_short_text_is_one_chunk():
    assert chunk_text("  Call extension 4357.  ") == ["Call extension 4357."]
    assert chunk_text("   ") == []


def test_paragraphs_are_packed_and_long_ones_split_at_sentences():
    para = "This is a sentence about VPN access. " * 30  # ~1100 chars
    text = f"Short intro.\n\n{para}\n\nShort outro."
    chunks = chunk_text(text, max_chars=300)
    assert all(len(c) <= 300 for c in chunks)
    assert chunks[0].startswith("Short intro.")
    assert chunks[-1].endswith("Short outro.")
    assert all(c.endswith(".") for c in chunks)  # cut at sentence ends, not mid-sentence


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000),
    st.integers(min_value=20, max_value=800),
)
def test_chunks_are_bounded_and_keep_every_word(text, max_chars):
    chunks = chunk_text(text, max_chars=max_chars)
    assert all(0 < len(c) <= max_chars for c in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())
