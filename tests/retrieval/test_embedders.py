"""Embedders chosen by settings, on real components: the bundled MiniLM, a local copy of its folder, and
an OpenAI-compatible embeddings server (a local peer on 127.0.0.1 that runs the real MiniLM)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bot.container import Container
from retrieval.embedder import (
    ChromaEmbeddingFunction,
    EmbedderChanged,
    EmbedderConfig,
    EmbedderUnavailable,
    OpenAIEmbedder,
    TextEmbedder,
    bundled_model_path,
    card_languages,
)
from retrieval.faq import load_faq
from retrieval.tune import TuneError, TuneParams
from tests.support import SAMPLE_FAQ

from .embeddings_peer import EmbeddingsPeer, closed_port_url

FAQS = Path(__file__).parent / "faqs"
QUESTIONS = [
    "How do I reset my VPN password?",
    "i forgot the password for the vpn",
    "where do I see my payslip",
    "how many days of holiday do I have per year",
    "someone sent me a suspicious email with a link",
    "the printer does not work",
    "What is the capital of Peru?",
]


@pytest.fixture
def peer(embedder):
    with EmbeddingsPeer(embedder) as p:
        yield p


def openai_settings(settings, peer, **extra):
    return settings.model_copy(
        update={
            "embedding_backend": "openai",
            "embedding_url": peer.url,
            "embedding_model": peer.model,
            **extra,
        }
    )


# ---- the HTTP adapter ------------------------------------------------------------------------------
def test_server_vectors_are_the_local_ones_in_order_normalised_and_batched(peer, embedder):
    texts = [f"question number {i} about the vpn" for i in range(10)]
    remote = OpenAIEmbedder(peer.url, peer.model, api_key="sk-test", batch_size=4)
    vectors = remote.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (10, embedder.dim) and remote.dim == embedder.dim
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, embedder.encode(texts), atol=1e-5)  # the peer answered reversed
    sent = peer.embedding_requests
    assert [len(r["body"]["input"]) for r in sent] == [4, 4, 2]
    assert all(r["body"]["model"] == peer.model and r["auth"] == "Bearer sk-test" for r in sent)
    assert isinstance(remote, TextEmbedder) and isinstance(embedder, TextEmbedder)
    # The base URL with or without /v1 means the same endpoint.
    assert OpenAIEmbedder(peer.url.removesuffix("/v1"), peer.model).endpoint == remote.endpoint


@pytest.mark.slow
def test_busy_and_failing_servers_are_retried_then_succeed(peer, embedder):
    peer.fail_next = [503, 429, 502]
    vectors = OpenAIEmbedder(peer.url, peer.model).encode(["hello"])
    np.testing.assert_allclose(vectors, embedder.encode(["hello"]), atol=1e-5)
    assert len(peer.embedding_requests) == 4


@pytest.mark.slow
def test_a_server_that_keeps_failing_ends_in_one_line_within_the_time_bound(peer):
    peer.fail_next = [503] * 1000
    started = time.monotonic()
    with pytest.raises(EmbedderUnavailable) as exc:
        OpenAIEmbedder(peer.url, peer.model, timeout_s=1.5).encode(["hello"])
    assert time.monotonic() - started < 3.0
    message = str(exc.value)
    assert "answered 503" in message and "tries in" in message and "\n" not in message
    assert 2 <= len(peer.embedding_requests) <= OpenAIEmbedder.MAX_ATTEMPTS


@pytest.mark.slow
def test_unreachable_server_is_one_line_naming_the_setting():
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(EmbedderUnavailable) as exc:
        OpenAIEmbedder(url, "m", timeout_s=2).encode(["hello"])
    assert time.monotonic() - started < 4.0
    message = str(exc.value)
    assert message.startswith(f"cannot reach the embedding server at {url}")
    assert message.endswith("(SUPPORTBOT_EMBEDDING_URL)") and "\n" not in message


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("malformed", "malformed answer (no data list)"),
        ("short", "malformed answer (1 embeddings for 2 inputs)"),
        ("not-json", "malformed answer (not JSON"),
    ],
)
def test_malformed_answers_are_one_line(peer, behaviour, expected):
    peer.behaviour = behaviour
    with pytest.raises(EmbedderUnavailable, match=re.escape(expected)) as exc:
        OpenAIEmbedder(peer.url, peer.model).encode(["one", "two"])
    assert "\n" not in str(exc.value)
    assert len(peer.embedding_requests) == 1  # a malformed answer is not retried


def test_a_model_the_server_lacks_and_a_dimension_change_are_named(peer):
    with pytest.raises(EmbedderUnavailable, match=r"answered 404 for model 'nope': model 'nope' not found"):
        OpenAIEmbedder(peer.url, "nope").encode(["hello"])
    remote = OpenAIEmbedder(peer.url, peer.model)
    assert remote.dim == 384
    peer.behaviour = "truncate"
    with pytest.raises(EmbedderUnavailable, match="returned 128-dimension vectors where it returned 384"):
        remote.encode(["hello"])


# ---- the index on each backend ---------------------------------------------------------------------
@pytest.mark.slow
def test_the_index_ranks_the_same_through_the_server_as_in_process(settings, sample_index, peer):
    remote = Container(openai_settings(settings, peer, chroma_collection="faq-remote"))
    remote.ensure_schema()
    # The same SQL holds the FAQ; the remote collection is new, so every entry is embedded into it.
    assert remote.reembed_if_embedder_changed() is None
    assert remote.index.import_items(load_faq(SAMPLE_FAQ)).reindexed == 37
    assert remote.index.store().embedding_function_config()["identity"] == f"openai:{peer.url}#{peer.model}"
    for question in QUESTIONS:
        local_hits = sample_index.search(question, k=5)
        remote_hits = remote.index.search(question, k=5)
        assert [h.id for h in remote_hits] == [h.id for h in local_hits], question
        np.testing.assert_allclose([h.score for h in remote_hits], [h.score for h in local_hits], atol=1e-3)
    assert remote.index.retrieve(QUESTIONS[-1], 1).abstain == sample_index.retrieve(QUESTIONS[-1], 1).abstain


@pytest.mark.slow
def test_tuning_a_server_embedder_is_refused_clearly(container, settings, peer):
    remote = Container(openai_settings(settings, peer))
    remote.ensure_schema()
    remote.index.import_items(load_faq(SAMPLE_FAQ))
    with pytest.raises(TuneError, match="SUPPORTBOT_EMBEDDING_BACKEND=openai.*cannot be tuned"):
        remote.tune_embedder(steps=1)
    assert not remote.index.is_tuned()


@pytest.mark.slow
def test_a_local_folder_works_and_switching_embedders_reembeds(settings, sample_index, tmp_path):
    folder = tmp_path / "my-embedder"
    shutil.copytree(bundled_model_path(), folder)
    c = Container(settings.model_copy(update={"embedding_model_path": folder}))
    assert c.embedder_config.resolved_languages() == (("en",), "model card")
    # The index was built with the bundled model: refused, not silently mixed, until re-embedded.
    with pytest.raises(
        EmbedderChanged, match=r"built with sentence-transformers:all-MiniLM-L6-v2 \(bundled\)"
    ):
        c.index.search("vpn password", 1)
    line = c.reembed_if_embedder_changed()
    assert line and str(folder.resolve()) in line
    report = c.index.import_items(load_faq(SAMPLE_FAQ))
    assert (report.added, report.unchanged, report.reindexed) == (0, 37, 37)
    assert c.index.search("How do I reset my VPN password?", 1)[0].id == "vpn-password-reset"
    assert c.reembed_if_embedder_changed() is None  # once is enough
    assert c.index.store().embedding_function_config()["path"] == str(folder)
    assert c.embedder.name == f"sentence-transformers:{folder.resolve()}"


@pytest.mark.slow
def test_a_tuned_index_switched_to_a_server_goes_back_to_untuned(container, settings, peer, tmp_path):
    container.index.import_items(load_faq(SAMPLE_FAQ))
    container.index.tune(tmp_path / "embedders", TuneParams(steps=2, batch_entries=8))
    assert container.index.is_tuned()
    remote = Container(openai_settings(settings, peer))
    with pytest.raises(EmbedderChanged, match="run `supportbot faq import FILE`"):
        remote.index.search("vpn password", 1)
    assert remote.reembed_if_embedder_changed()
    assert not remote.index.is_tuned()
    remote.index.import_items(load_faq(SAMPLE_FAQ))
    assert remote.index.search("How do I reset my VPN password?", 1)[0].id == "vpn-password-reset"


def test_chroma_function_records_the_embedder_and_never_the_key(peer, tmp_path):
    config = EmbedderConfig(backend="openai", url=peer.url, model=peer.model, api_key="sk-secret")
    fn = ChromaEmbeddingFunction(config)
    recorded = fn.get_config()
    assert "sk-secret" not in str(recorded) and recorded["identity"] == config.identity
    rebuilt = ChromaEmbeddingFunction.build_from_config(recorded)
    assert rebuilt.get_config() == recorded
    assert len(rebuilt(["hello"])[0]) == 384  # Chroma embedding through it asks the server
    # Collections made before this existed recorded {"path": ...}: still recognised.
    legacy = ChromaEmbeddingFunction.build_from_config({"path": None}).get_config()
    assert legacy["identity"] == EmbedderConfig().identity


def test_languages_come_from_the_setting_the_model_card_or_are_assumed(tmp_path):
    def card(text: str) -> Path:
        folder = tmp_path / str(abs(hash(text)))
        folder.mkdir()
        (folder / "README.md").write_text(text)
        return folder

    assert card_languages(bundled_model_path()) == ("en",)
    assert card_languages(card("---\nlanguage:\n- multilingual\n- de\n- zh-CN\nlicense: mit\n---\n")) == (
        "multilingual",
        "de",
        "zh",
    )
    assert card_languages(card("---\nlanguage: [de, fr]\n---\n# x")) == ("de", "fr")
    assert card_languages(card("# no front matter\nlanguage: de\n")) is None
    assert card_languages(tmp_path / "missing") is None
    folder = card("---\nlicense: mit\n---\n")
    assert EmbedderConfig(path=str(folder)).resolved_languages() == (("en",), "assumed")
    assert EmbedderConfig(path=str(folder), languages=("de",)).resolved_languages() == (("de",), "setting")
    assert EmbedderConfig().resolved_languages() == (("en",), "bundled")


def test_the_index_ranks_lexically_the_languages_the_embedder_does_not_read(settings, tmp_path):
    assert Container(settings).index.embedder_languages == {"en"}
    said = settings.model_copy(update={"embedding_languages": ["multilingual"]})
    assert Container(said).index.embedder_languages is None  # reads all: every question ranked densely
    folder = tmp_path / "card"
    shutil.copytree(bundled_model_path(), folder)
    (folder / "README.md").write_text("---\nlanguage:\n- de\n- en\n---\n")
    local = settings.model_copy(update={"embedding_model_path": folder})
    assert Container(local).index.embedder_languages == {"de", "en"}


@pytest.mark.parametrize("name", ["de", "zh"])
def test_a_foreign_faq_warns_with_the_english_embedder_only(name):
    from retrieval.embedder import language_warning

    items = load_faq(FAQS / f"faq_{name}.csv")
    texts = [t for it in items for t in (it.question, it.answer)]
    warning = language_warning(texts, EmbedderConfig())
    assert warning and f"({name})" in warning and "SUPPORTBOT_EMBEDDING_MODEL_PATH" in warning
    assert "SUPPORTBOT_EMBEDDING_BACKEND" in warning
    # German shares the English embedder's script: fused with the words; Chinese: words alone.
    assert ("with the embedder's similarity beside them" if name == "de" else "lexically") in warning
    assert language_warning(texts, EmbedderConfig(languages=("multilingual",))) is None
    english = load_faq(SAMPLE_FAQ)
    assert language_warning([t for it in english for t in (it.question, it.answer)], EmbedderConfig()) is None


def _folder_with_prompts(tmp_path: Path, default: str | None = None) -> Path:
    """A copy of the bundled MiniLM that declares prompts, as EmbeddingGemma's folder does."""
    import json

    folder = tmp_path / f"prompted-{default}"
    shutil.copytree(bundled_model_path(), folder)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    config["prompts"] = {"STS": "task: sentence similarity | query: ", "query": "q: "}
    config["default_prompt_name"] = default
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config))
    return folder


@pytest.mark.slow
def test_a_prompt_the_folder_declares_goes_before_every_text_on_both_paths(embedder, tmp_path):
    from retrieval.embedder import Embedder

    folder = _folder_with_prompts(tmp_path)
    many = QUESTIONS * 2  # more than the query path's 8: sentence-transformers' batched encode
    plain = Embedder(folder)
    assert plain.prompt == "" and np.allclose(
        plain.encode(QUESTIONS[:1]), embedder.encode(QUESTIONS[:1]), atol=1e-5
    )
    sts = Embedder(folder, "STS")
    for texts in (QUESTIONS[:1], many):
        expected = embedder.encode([f"task: sentence similarity | query: {t}" for t in texts])
        assert np.allclose(sts.encode(texts), expected, atol=1e-5)
        assert not np.allclose(sts.encode(texts), embedder.encode(texts), atol=1e-3)
    # A folder's default prompt is sentence-transformers' choice for its batched encode: the query
    # path must read the same, or questions and FAQ texts would be embedded differently.
    default = Embedder(_folder_with_prompts(tmp_path, default="query"))
    for texts in (QUESTIONS[:1], many):
        assert np.allclose(default.encode(texts), embedder.encode([f"q: {t}" for t in texts]), atol=1e-5)
    with pytest.raises(EmbedderUnavailable, match=r"no prompt named 'nope' \(its prompts: STS, .*query\)"):
        Embedder(folder, "nope")


@pytest.mark.slow
def test_the_index_embeds_and_tunes_with_the_prompt_and_a_new_prompt_reembeds(settings, tmp_path):
    folder = _folder_with_prompts(tmp_path)
    prompted = settings.model_copy(update={"embedding_model_path": folder, "embedding_prompt_name": "STS"})
    c = Container(prompted)
    c.ensure_schema()
    assert c.embedder_config.identity == f"sentence-transformers:{folder.resolve()}#prompt=STS"
    c.index.import_items(load_faq(SAMPLE_FAQ))
    assert c.index.search("How do I reset my VPN password?", 1)[0].id == "vpn-password-reset"
    stored = c.index.store().embedding_function_config()
    assert stored["prompt_name"] == "STS" and stored["identity"].endswith("#prompt=STS")
    tuned = c.index.tune(tmp_path / "embedders", TuneParams(steps=2, batch_entries=8))
    # The tuned folder keeps the base's prompts, and the index reads it with the same one.
    assert c._embedder_for(str(tuned)).prompt == "task: sentence similarity | query: "
    assert c.index.search("How do I reset my VPN password?", 1)[0].id == "vpn-password-reset"
    # Vectors of another prompt are other vectors: refused until re-embedded, never mixed.
    other = Container(settings.model_copy(update={"embedding_model_path": folder}))
    with pytest.raises(EmbedderChanged, match="#prompt=STS"):
        other.index.search("vpn password", 1)


def test_a_prompt_is_refused_for_an_embedding_server(settings):
    from pydantic import ValidationError

    with pytest.raises(
        ValidationError, match="SUPPORTBOT_EMBEDDING_PROMPT_NAME names a prompt of a local folder"
    ):
        settings.model_validate(
            {
                **settings.model_dump(),
                "embedding_backend": "openai",
                "embedding_url": "http://127.0.0.1:9/v1",
                "embedding_model": "m",
                "embedding_prompt_name": "STS",
            }
        )
