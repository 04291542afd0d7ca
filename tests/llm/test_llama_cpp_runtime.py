"""The optional llama-cpp runtime on the registry's model files (skipped where llama-cpp-python is
not installed: it is a ~6 minute source build, `pip install llama-cpp-python`)."""

from __future__ import annotations

import pytest

from bot.llm.base import GenerationParams
from bot.prompts import STOP_SEQUENCES, ContextEntry, build_prompt

pytest.importorskip("llama_cpp", reason="optional runtime: pip install llama-cpp-python")
pytestmark = pytest.mark.slow  # loads the model in a second runtime (24 s in CI)

PROMPT = build_prompt(
    "How do I reset my VPN password?",
    [
        ContextEntry(
            "vpn-password-reset",
            "How do I reset my VPN password?",
            "Your VPN uses your Brightwater single sign-on password. Reset it at https://id.brightwater.example.",
        )
    ],
)


@pytest.fixture(scope="module")
def llama(model_path):
    from bot.llm.llama_cpp_runtime import LlamaCppRuntime

    return LlamaCppRuntime(model_path, threads=2, context_length=2048)


def test_serves_a_ctransformers_version_through_its_restored_standard_form(llama, runtime, model_path):
    from bot.llm.gguf import is_adapted

    assert is_adapted(model_path)  # what the registry serves: written for ctransformers
    standard = model_path.with_name(model_path.stem + ".standard.gguf")
    assert standard.exists() and not is_adapted(standard)
    params = GenerationParams(max_new_tokens=40, stop=STOP_SEQUENCES)
    text = "".join(llama.stream(PROMPT, params))
    assert "Ġ" not in text and "Ċ" not in text  # decoded as text, not as byte-level symbols
    assert "password" in text.lower()
    # Same weights, same greedy decoding: the same opening words as the default runtime.
    reference = "".join(runtime.stream(PROMPT, params))
    assert text.split()[:5] == reference.split()[:5]
    assert llama.count_tokens(PROMPT) == runtime.count_tokens(PROMPT)


def test_limits_and_stops(llama):
    assert llama.count_tokens("".join(llama.stream(PROMPT, GenerationParams(max_new_tokens=5)))) <= 6
    out = "".join(llama.stream(PROMPT, GenerationParams(max_new_tokens=200, stop=STOP_SEQUENCES)))
    assert "###" not in out
