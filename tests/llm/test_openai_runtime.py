"""The `openai` runtime against a local OpenAI-compatible server that serves the real model."""

import pytest

from bot.container import Container
from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout
from bot.llm.openai_runtime import OpenAIRuntime

from .openai_peer import OpenAIPeer
from .test_runtime import PROMPT


@pytest.fixture
def peer(runtime):
    with OpenAIPeer(runtime) as p:
        yield p


@pytest.mark.slow
def test_streams_the_same_text_as_the_local_runtime(peer, runtime):
    local = "".join(runtime.stream(PROMPT, GenerationParams(max_new_tokens=20)))
    remote_rt = OpenAIRuntime(peer.url, "smollm2", api_key="sk-test")
    pieces = list(remote_rt.stream(PROMPT, GenerationParams(max_new_tokens=20)))
    assert len(pieces) > 1  # streamed, not one blob
    assert "".join(pieces) == local and "Paris" in local
    req = peer.requests[-1]
    assert req["path"] == "/v1/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["stream"] is True and req["body"]["model"] == "smollm2"
    assert remote_rt.count_tokens(local) == runtime.count_tokens(local)


def test_stop_sequences_are_sent_and_enforced(peer):
    rt = OpenAIRuntime(peer.url, "m")
    text = "".join(rt.stream(PROMPT, GenerationParams(max_new_tokens=20, stop=("Paris",))))
    assert "Paris" not in text and peer.requests[-1]["body"]["stop"] == ["Paris"]


def test_server_error_and_unreachable_server_are_generation_errors(peer):
    peer.behaviour = "error"
    with pytest.raises(GenerationError, match="answered 500"):
        list(OpenAIRuntime(peer.url, "m").stream(PROMPT, GenerationParams(max_new_tokens=5)))
    with pytest.raises(GenerationError, match="unreachable"):
        list(OpenAIRuntime("http://127.0.0.1:9/v1", "m").stream(PROMPT, GenerationParams(max_new_tokens=5)))


def test_hanging_server_times_out(peer):
    peer.behaviour = "hang"
    with pytest.raises(GenerationTimeout):
        list(OpenAIRuntime(peer.url, "m").stream(PROMPT, GenerationParams(max_new_tokens=5, timeout_s=0.5)))


@pytest.mark.slow
def test_answer_service_on_the_openai_backend(peer, settings, sample_faq_items):
    c = Container(
        settings.model_copy(
            update={
                "model_backend": "openai",
                "openai_base_url": peer.url,
                "openai_model": "smollm2",
                "model_path": None,
            }
        )
    )
    c.ensure_schema()
    c.index.import_items(sample_faq_items)
    r = c.answers.ask("my vpn password stopped working")
    assert r.model_version == "smollm2" and r.tokens > 0 and r.sources[0]["id"] == "vpn-password-reset"
    assert any(q["path"] == "/v1/completions" for q in peer.requests)
    c.engine.stop()
