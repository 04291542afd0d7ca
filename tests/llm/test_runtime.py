"""The ctransformers runtime on the real bundled model."""

import threading
import time

import pytest

from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout, StopSequenceFilter

PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\nWhat is the capital of France?\n\n### Response:\n"
)


def test_generates_a_sensible_answer(runtime):
    text = "".join(runtime.stream(PROMPT, GenerationParams(max_new_tokens=24)))
    assert "Paris" in text


def test_max_new_tokens_bounds_output(runtime):
    long_prompt = PROMPT.replace("What is the capital of France?", "Write a long story about a dragon.")
    pieces = list(runtime.stream(long_prompt, GenerationParams(max_new_tokens=5)))
    assert 1 <= runtime.count_tokens("".join(pieces)) <= 6


def test_stop_sequence_ends_generation_and_is_not_emitted(runtime):
    text = "".join(runtime.stream(PROMPT, GenerationParams(max_new_tokens=24, stop=("Paris",))))
    assert "Paris" not in text
    assert text.strip()  # what came before the stop is kept


def test_cancel_stops_promptly(runtime):
    cancel = threading.Event()
    story = PROMPT.replace("What is the capital of France?", "Write a long story about a dragon.")
    pieces = []
    for piece in runtime.stream(story, GenerationParams(max_new_tokens=200, cancel=cancel)):
        pieces.append(piece)
        cancel.set()
    assert len(pieces) <= 2


def test_timeout_raises(runtime):
    story = PROMPT.replace("What is the capital of France?", "Write a long story about a dragon.")
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        for _ in runtime.stream(story, GenerationParams(max_new_tokens=500, timeout_s=0.3)):
            pass
    assert time.monotonic() - started < 3


def test_prompt_longer_than_context_is_a_clear_error(runtime):
    with pytest.raises(GenerationError, match="exceeds the context"):
        list(runtime.stream("word " * 3000, GenerationParams(max_new_tokens=10)))


@pytest.mark.parametrize(
    "pieces, stops, expected",
    [
        (["Hello ", "wor", "ld ###", " more"], ("###",), "Hello world "),
        (["a#", "#b"], ("###",), "a##b"),
        (["abc"], (), "abc"),
        (["x\n#", "## Input"], ("\n### ",), "x"),
    ],
)
def test_stop_filter_holds_back_partial_stops(pieces, stops, expected):
    f = StopSequenceFilter(stops)
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert out == expected
