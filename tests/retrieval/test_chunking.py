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


def test_sentences_are_cut_in_any_script_and_not_inside_abbreviations_or_numbers():
    from retrieval.chunking import split_sentences

    assert split_sentences("Call 4357. Then wait e.g. five minutes. It is 3.5 GB! Done?") == [
        "Call 4357.",
        "Then wait e.g. five minutes.",
        "It is 3.5 GB!",
        "Done?",
    ]
    assert split_sentences("请重置密码。然后等待五分钟！好吗？") == [
        "请重置密码。",
        "然后等待五分钟！",
        "好吗？",
    ]
    assert split_sentences("¿Dónde está? ¡Aquí! Él espera.") == ["¿Dónde está?", "¡Aquí!", "Él espera."]
    assert split_sentences("Ça marche. Éteignez d'abord.") == ["Ça marche.", "Éteignez d'abord."]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2000))
def test_sentences_keep_every_word_in_order(text):
    from retrieval.chunking import split_sentences

    pieces = split_sentences(text)
    assert all(p and p == p.strip() for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())
