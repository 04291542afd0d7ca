"""The adapted GGUF: what the three changes did, and that ctransformers now reads it correctly."""

import numpy as np
import pytest
from gguf import GGUFReader

from bot.llm.gguf import GGUFFormatError, adapt_for_ctransformers, byte_level_to_raw, is_adapted
from bot.llm.registry import bundled_gguf


@pytest.fixture(scope="module")
def adapted(model_path):
    return GGUFReader(model_path)


@pytest.mark.slow
def test_header_is_version_2(model_path):
    assert model_path.read_bytes()[:8] == b"GGUF\x02\x00\x00\x00"
    assert is_adapted(model_path)
    assert not is_adapted(bundled_gguf())


@pytest.mark.slow
def test_scores_added_and_output_tied_to_embeddings(adapted):
    n_vocab = len(adapted.fields["tokenizer.ggml.tokens"].data)
    scores = adapted.fields["tokenizer.ggml.scores"]
    assert len(scores.data) == n_vocab == 49152
    tensors = {t.name: t for t in adapted.tensors}
    assert np.array_equal(
        np.asarray(tensors["output.weight"].data), np.asarray(tensors["token_embd.weight"].data)
    )
    original = {t.name: t for t in GGUFReader(bundled_gguf()).tensors}
    assert "output.weight" not in original
    for name, t in original.items():  # every other tensor copied byte for byte
        assert np.array_equal(np.asarray(t.data), np.asarray(tensors[name].data)), name


def test_tokens_are_raw_bytes_and_merges_keep_space_marker(adapted):
    f = adapted.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]) for i in f.data]
    assert b" the" in tokens and "Ġthe".encode() not in tokens
    assert b"\n" in tokens
    m = adapted.fields["tokenizer.ggml.merges"]
    merges = [bytes(m.parts[i]) for i in m.data[:2000]]
    assert any(x.startswith("Ġ".encode()) for x in merges)


def test_byte_level_mapping():
    assert byte_level_to_raw("Ġhello") == b" hello"
    assert byte_level_to_raw("Ċ") == b"\n"
    assert byte_level_to_raw("<|im_start|>") == b"<|im_start|>"
    assert byte_level_to_raw("Ã©") == "é".encode()


@pytest.mark.slow
def test_ctransformers_tokenizes_like_the_reference_tokenizer(runtime):
    from transformers import AutoTokenizer

    src = bundled_gguf()
    reference = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    for text in [
        "How do I reset my VPN password?",
        "Line one\n\nLine  two, isn't it? 12345 + 678 = x_y",
        "### Instruction:\nSay hello.\n\n### Response:\n",
    ]:
        assert runtime._llm.tokenize(text, add_bos_token=False) == reference.encode(text), text
    # non-ASCII may split differently but must round-trip exactly
    text = "café naïve — ünïcode ✓"
    ids = runtime._llm.tokenize(text, add_bos_token=False)
    assert runtime._llm.detokenize(ids) == text


def test_rejects_truncated_and_foreign_files(tmp_path):
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(bundled_gguf().read_bytes()[:1_000_000])
    with pytest.raises(GGUFFormatError, match="not a readable GGUF"):
        adapt_for_ctransformers(truncated, tmp_path / "out.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 100)
    with pytest.raises(GGUFFormatError):
        adapt_for_ctransformers(junk, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
