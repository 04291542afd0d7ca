"""Embedders chosen by settings, through the real CLI (bot.cli.main, the console script's entry point):
the language warning of `faq import`, an OpenAI-compatible embeddings server (a local peer running the
real MiniLM), one-line errors when it is unreachable or the settings are wrong, switching embedders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.embedder import bundled_model_path
from tests.support import SAMPLE_FAQ

from .retrieval.embeddings_peer import EmbeddingsPeer, closed_port_url

FAQS = Path(__file__).parent / "retrieval" / "faqs"


@pytest.fixture
def peer(embedder):
    with EmbeddingsPeer(embedder) as p:
        yield p


def server_env(url: str, model: str = "all-minilm", **extra: str) -> dict[str, str]:
    return {
        "SUPPORTBOT_EMBEDDING_BACKEND": "openai",
        "SUPPORTBOT_EMBEDDING_URL": url,
        "SUPPORTBOT_EMBEDDING_MODEL": model,
        **extra,
    }


def warnings(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("Warning: ")]


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


@pytest.mark.parametrize(("name", "language"), [("de", "German"), ("zh", "Chinese")])
def test_a_german_or_chinese_faq_with_the_english_embedder_warns(cli, name, language):
    code, stdout, stderr = cli("faq", "import", str(FAQS / f"faq_{name}.csv"))
    assert code == 0 and "6 added" in stdout
    (line,) = warnings(stderr)
    assert f"this FAQ is in {language} ({name})" in line and "bundled all-MiniLM-L6-v2" in line
    assert "SUPPORTBOT_EMBEDDING_MODEL_PATH" in line and "SUPPORTBOT_EMBEDDING_BACKEND" in line
    how = "on their words, with the embedder's similarity beside them" if name == "de" else "lexically"
    assert f"questions in {language} will be matched {how}" in line


def test_an_english_faq_does_not_warn_nor_one_the_embedder_is_said_to_read(cli):
    code, _, stderr = cli("faq", "import", str(SAMPLE_FAQ))
    assert code == 0 and warnings(stderr) == []
    code, _, stderr = cli(
        "faq", "import", str(FAQS / "faq_de.csv"), "--prune", SUPPORTBOT_EMBEDDING_LANGUAGES="en,de"
    )
    assert code == 0 and warnings(stderr) == []


@pytest.mark.slow
def test_import_and_ask_through_an_embeddings_server(cli, peer):
    env = server_env(peer.url, SUPPORTBOT_EMBEDDING_API_KEY="sk-local")
    code, stdout, stderr = cli("faq", "import", str(SAMPLE_FAQ), "--tune", **env)
    assert code == 0, stderr
    assert "37 added" in stdout and warnings(stderr) == []
    # Tuning after the import cannot work on a server's model: a notice, not a failure.
    assert (
        "Embedder not tuned: the embedder is served over HTTP (SUPPORTBOT_EMBEDDING_BACKEND=openai)" in stderr
    )
    assert peer.embedding_requests and all(r["auth"] == "Bearer sk-local" for r in peer.embedding_requests)
    code, _, stderr = cli("faq", "tune", **env)
    assert code == 1
    assert error_lines(stderr) == [
        "Error: the embedder is served over HTTP (SUPPORTBOT_EMBEDDING_BACKEND=openai) and cannot be tuned "
        "here; retrieval uses it as it is"
    ]
    # An embedder said to read German: no warning; one assumed to read English: says it assumed.
    code, _, stderr = cli("faq", "import", str(FAQS / "faq_de.csv"), **env)
    assert code == 0 and "assumed: no model card says; list them in SUPPORTBOT_EMBEDDING_LANGUAGES" in stderr
    code, _, stderr = cli(
        "faq", "import", str(FAQS / "faq_de.csv"), **env, SUPPORTBOT_EMBEDDING_LANGUAGES="multilingual"
    )
    assert code == 0 and warnings(stderr) == []


def test_an_unreachable_embeddings_server_is_one_line(cli):
    url = closed_port_url()
    code, _, stderr = cli(
        "faq", "import", str(SAMPLE_FAQ), **server_env(url, SUPPORTBOT_EMBEDDING_TIMEOUT_S="2")
    )
    assert code == 1
    (line,) = error_lines(stderr)
    assert line.startswith(f"Error: cannot reach the embedding server at {url}")
    assert line.endswith("(SUPPORTBOT_EMBEDDING_URL)")


def test_a_server_that_lacks_the_model_is_one_line(cli, peer):
    code, _, stderr = cli("faq", "import", str(SAMPLE_FAQ), **server_env(peer.url, "nomic-embed-text"))
    assert code == 1
    (line,) = error_lines(stderr)
    assert "answered 404 for model 'nomic-embed-text'" in line and "SUPPORTBOT_EMBEDDING_MODEL" in line


@pytest.mark.slow
def test_switching_embedders_reembeds_on_import_and_is_named_until_then(cli, peer, tmp_path):
    code, _, _ = cli("faq", "import", str(SAMPLE_FAQ))
    assert code == 0
    folder = tmp_path / "my-minilm"
    shutil.copytree(bundled_model_path(), folder)
    code, stdout, stderr = cli("faq", "import", str(SAMPLE_FAQ), SUPPORTBOT_EMBEDDING_MODEL_PATH=str(folder))
    assert code == 0, stderr
    assert (
        "The embedder changed (was sentence-transformers:all-MiniLM-L6-v2 (bundled), now "
        f"sentence-transformers:{folder.resolve()}): every FAQ entry is embedded again." in stdout
    )
    assert "37 unchanged" in stdout and "37 entries with no vectors re-indexed" in stdout
    # Back on the bundled model without importing: commands that search say what to run.
    code, _, stderr = cli("ask", "How do I reset my VPN password?")
    assert code == 1
    (line,) = error_lines(stderr)
    assert (
        f"was built with sentence-transformers:{folder.resolve()}, not with the configured embedder" in line
    )
    assert "run `supportbot faq import FILE` to re-embed every entry with it" in line
    # And on to a server.
    code, stdout, stderr = cli("faq", "import", str(SAMPLE_FAQ), **server_env(peer.url))
    assert code == 0, stderr
    assert f"now openai:{peer.url}#all-minilm" in stdout


BAD_SETTINGS = [
    ({"SUPPORTBOT_EMBEDDING_BACKEND": "ollama"}, "SUPPORTBOT_EMBEDDING_BACKEND: Input should be"),
    (
        {"SUPPORTBOT_EMBEDDING_BACKEND": "openai"},
        "SUPPORTBOT_EMBEDDING_BACKEND=openai needs SUPPORTBOT_EMBEDDING_URL",
    ),
    (
        {"SUPPORTBOT_EMBEDDING_BACKEND": "openai", "SUPPORTBOT_EMBEDDING_URL": "http://127.0.0.1:1/v1"},
        "SUPPORTBOT_EMBEDDING_BACKEND=openai needs SUPPORTBOT_EMBEDDING_MODEL",
    ),
    (
        {"SUPPORTBOT_EMBEDDING_URL": "ollama:11434"},
        "SUPPORTBOT_EMBEDDING_URL: must be an http:// or https:// URL",
    ),
    (
        {"SUPPORTBOT_EMBEDDING_URL": "http://ollama:11434/v1"},
        "SUPPORTBOT_EMBEDDING_URL is set, but SUPPORTBOT_EMBEDDING_BACKEND is sentence-transformers",
    ),
    (
        {**server_env("http://127.0.0.1:1/v1"), "SUPPORTBOT_EMBEDDING_MODEL_PATH": str(bundled_model_path())},
        "SUPPORTBOT_EMBEDDING_MODEL_PATH is a local folder",
    ),
    (
        {"SUPPORTBOT_EMBEDDING_LANGUAGES": "english"},
        "SUPPORTBOT_EMBEDDING_LANGUAGES: 'english' is not an ISO",
    ),
    ({"SUPPORTBOT_EMBEDDING_LANGUAGES": ","}, "SUPPORTBOT_EMBEDDING_LANGUAGES: must list ISO 639-1 codes"),
    (
        {"SUPPORTBOT_EMBEDDING_TIMEOUT_S": "0"},
        "SUPPORTBOT_EMBEDDING_TIMEOUT_S: Input should be greater than 0",
    ),
    ({"SUPPORTBOT_EMBEDDING_BATCH_SIZE": "0"}, "SUPPORTBOT_EMBEDDING_BATCH_SIZE: Input should be greater"),
]


@pytest.mark.parametrize(("env", "expected"), BAD_SETTINGS, ids=[e for _, e in BAD_SETTINGS])
def test_bad_embedding_settings_are_one_line_each(cli, env, expected):
    code, _, stderr = cli("faq", "import", str(SAMPLE_FAQ), **env)
    assert code == 2
    (line,) = error_lines(stderr)
    assert line.startswith(f"Error: {expected}"), line
