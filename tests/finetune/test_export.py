"""GGUF -> trainable weights -> GGUF: load_trainable's cache, export_gguf's file, and what ctransformers
makes of an exported model when nothing was trained."""

from __future__ import annotations

import shutil
import time
import warnings
from collections import namedtuple

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize

from bot.llm.base import GenerationParams
from bot.llm.registry import bundled_gguf
from bot.prompts import STOP_SEQUENCES, ContextEntry, build_prompt
from finetune import export as export_mod
from finetune import weights as weights_mod
from finetune.export import ExportError, export_gguf
from finetune.weights import WeightsError, load_trainable, restore_standard_gguf

ENTRIES = [
    ContextEntry(
        "vpn-1",
        "How do I reset my VPN password?",
        "Go to https://id.example.com, choose 'Forgot password' and follow the emailed link. "
        "The VPN uses your SSO password.",
    ),
    ContextEntry(
        "hr-2",
        "How many vacation days do I get?",
        "Full-time employees get 25 days of paid vacation per year, plus public holidays. "
        "Unused days carry over until March 31.",
    ),
    ContextEntry(
        "it-3",
        "How do I get a new laptop?",
        "Open a ticket in the IT portal under Hardware > Laptop request. Standard laptops ship "
        "within 5 business days.",
    ),
    ContextEntry(
        "fin-4",
        "When are expense reports due?",
        "Submit expense reports in Expensify within 30 days of the purchase, with receipts attached.",
    ),
]
QUESTIONS = [
    "How do I reset my VPN password?",
    "How many vacation days do I get?",
    "I need a new laptop, what do I do?",
    "When do I need to submit expenses?",
    "Can I carry over vacation days?",
    "Does the VPN use my SSO password?",
]
PROMPTS = [build_prompt(q, [ENTRIES[i % 4], ENTRIES[(i + 1) % 4]]) for i, q in enumerate(QUESTIONS)]
N_TOKENS = 24


def _strings(reader: GGUFReader, key: str) -> list[bytes]:
    f = reader.fields[key]
    return [bytes(f.parts[i]) for i in f.data]


def _generate(runtime, prompt: str = PROMPTS[0]) -> str:
    return "".join(runtime.stream(prompt, GenerationParams(max_new_tokens=N_TOKENS, stop=STOP_SEQUENCES)))


def _greedy_ids(llm, prompt: str) -> list[int]:
    ids = []
    for token in llm.generate(
        llm.tokenize(prompt, add_bos_token=False),
        top_k=1,
        temperature=1.0,
        repetition_penalty=1.0,
        reset=True,
    ):
        ids.append(token)
        if len(ids) >= N_TOKENS:
            break
    return ids


def _forced_top1(llm, prompt: str, reference: list[int]) -> list[int]:
    """The model's top token at each step when fed ``reference`` (teacher forcing): measures the
    model, not how far an early near-tie lets two free-running outputs drift apart."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LLM.reset() is 'deprecated' but the only way to clear it
        llm.reset()
    llm.eval(llm.tokenize(prompt, add_bos_token=False))
    top = []
    for token in reference:
        top.append(int(np.argmax(np.fromiter(llm.logits, dtype=np.float32))))
        llm.eval([token])
    return top


Loaded = namedtuple("Loaded", "model tokenizer cache_dir first_s")


@pytest.fixture(scope="module")
def trainable(model_path, tmp_path_factory):
    """Weights from the *adapted* (served) base file, as a fine-tuning run gets them."""
    cache_dir = tmp_path_factory.mktemp("weights-cache")
    t0 = time.perf_counter()
    model, tokenizer = load_trainable(model_path, cache_dir)
    return Loaded(model, tokenizer, cache_dir, time.perf_counter() - t0)


@pytest.fixture(scope="module")
def exported(trainable, tmp_path_factory):
    """The untrained model exported with the default quantisation (Q8_0 matrices)."""
    out = tmp_path_factory.mktemp("export") / "candidate.gguf"
    export_gguf(trainable.model, bundled_gguf(), out)
    return out


@pytest.mark.slow
@pytest.mark.model
def test_adapted_file_restores_to_the_original_vocabulary(model_path, tmp_path):
    restored = GGUFReader(restore_standard_gguf(model_path, tmp_path / "standard.gguf"))
    original = GGUFReader(bundled_gguf())
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
        assert _strings(restored, key) == _strings(original, key), key
    assert set(restored.fields) == set(original.fields)
    assert [t.name for t in restored.tensors] == [t.name for t in original.tensors]  # no output.weight copy


@pytest.mark.slow
@pytest.mark.model
def test_trainable_weights_are_plain_fp32_and_match_the_gguf(trainable, runtime):
    model, tokenizer = trainable.model, trainable.tokenizer
    assert model.dtype == torch.float32 and not getattr(model, "is_quantized", False)
    assert getattr(model.config, "quantization_config", None) is None
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied
    embd = next(t for t in GGUFReader(bundled_gguf()).tensors if t.name == "token_embd.weight")
    assert np.array_equal(
        model.model.embed_tokens.weight.detach().numpy(), dequantize(np.asarray(embd.data), embd.tensor_type)
    )
    for text in ["How do I reset my VPN password?", PROMPTS[0]]:  # same ids as the served runtime
        assert tokenizer.encode(text) == runtime._llm.tokenize(text, add_bos_token=False)


@pytest.mark.slow
@pytest.mark.model
def test_second_load_uses_the_cache(trainable, model_path, monkeypatch):
    (entry,) = list(trainable.cache_dir.iterdir())  # one entry, no temp dir left behind
    assert (entry / "model.safetensors").is_file()

    def no_conversion(*args, **kwargs):
        raise AssertionError("the GGUF was converted again")

    monkeypatch.setattr(weights_mod, "_build_cache", no_conversion)
    t0 = time.perf_counter()
    model, _ = load_trainable(model_path, trainable.cache_dir)
    cached_s = time.perf_counter() - t0
    # measured: first 18-25 s, cached ~0.3 s
    assert cached_s < 5 and cached_s < trainable.first_s / 3, (cached_s, trainable.first_s)
    assert torch.equal(
        model.model.layers[3].mlp.up_proj.weight, trainable.model.model.layers[3].mlp.up_proj.weight
    )


@pytest.mark.slow
@pytest.mark.model
def test_untrained_round_trip_with_template_types_is_byte_identical(trainable, model_path, tmp_path):
    """Names, q/k permutation, quantisation, metadata and adaptation all exact: keeping the
    template's types (Q4_1 matrices), the untrained export *is* the served base file."""
    out = export_gguf(trainable.model, bundled_gguf(), tmp_path / "same.gguf", quant="template")
    assert out.read_bytes() == model_path.read_bytes()
    assert list(tmp_path.iterdir()) == [out]  # no temp files left


@pytest.mark.slow
@pytest.mark.model
def test_q8_export_keeps_template_metadata_and_close_weights(exported, model_path):
    out, template, served = GGUFReader(exported), GGUFReader(bundled_gguf()), GGUFReader(model_path)
    assert exported.read_bytes()[:8] == b"GGUF\x02\x00\x00\x00"
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):  # adapted like the served base
        assert _strings(out, key) == _strings(served, key)
    f = out.fields["general.file_type"]
    assert f.parts[f.data[0]][0] == 7  # MOSTLY_Q8_0
    assert [t.name for t in out.tensors] == [t.name for t in template.tensors] + ["output.weight"]
    reference = {t.name: t for t in template.tensors}
    for t in out.tensors:
        assert t.tensor_type == (GGMLQuantizationType.Q8_0 if len(t.shape) == 2 else GGMLQuantizationType.F32)
        if not t.name.startswith(("blk.0.", "blk.29.", "token_embd", "output")):
            continue
        ref = reference.get(t.name, reference["token_embd.weight"])
        a = dequantize(np.asarray(t.data), t.tensor_type)
        b = dequantize(np.asarray(ref.data), ref.tensor_type)
        # Q4_1 -> Q8_0 requantisation: measured worst 0.42% of a tensor's largest value. A wrong
        # q/k row permutation would be off by the size of the weights themselves.
        assert np.abs(a - b).max() <= 0.01 * np.abs(b).max(), t.name
    # token_embd was Q8_0 already and comes back byte for byte
    assert np.array_equal(np.asarray(out.tensors[0].data), np.asarray(reference["token_embd.weight"].data))


@pytest.mark.slow
@pytest.mark.model
def test_q8_export_serves_like_the_base(exported, runtime):
    from bot.llm.ctransformers_runtime import CTransformersRuntime

    candidate = CTransformersRuntime(exported)
    try:
        assert len(_generate(candidate).split()) >= 5
        base, cand = runtime._llm, candidate._llm
        agree = total = 0
        for prompt in PROMPTS:
            reference = _greedy_ids(base, prompt)
            a, b = _forced_top1(base, prompt, reference), _forced_top1(cand, prompt, reference)
            agree += sum(x == y for x, y in zip(a, b))
            total += len(reference)
    finally:
        candidate.close()
    # Q4_1 -> Q8_0 moves near-tied logits: free-running greedy text diverges early on some prompts
    # (measured common prefixes 17, 0, 14, 1, 0, 1 tokens). Teacher-forced top-1 agreement measured
    # 139/144 (96.5%); the base against its own free run agrees 140/144 (eval-path noise).
    assert agree / total >= 0.9, (agree, total)


@pytest.mark.slow
@pytest.mark.model
def test_changed_weights_change_the_file_and_the_output(trainable, model_path, runtime, tmp_path):
    from bot.llm.ctransformers_runtime import CTransformersRuntime

    weight = trainable.model.model.layers[5].mlp.down_proj.weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight.mul_(4.0)
        changed = export_gguf(trainable.model, bundled_gguf(), tmp_path / "changed.gguf", quant="template")
    finally:
        with torch.no_grad():
            weight.copy_(saved)
    base = {t.name: np.asarray(t.data) for t in GGUFReader(model_path).tensors}
    differing = [
        t.name for t in GGUFReader(changed).tensors if not np.array_equal(np.asarray(t.data), base[t.name])
    ]
    assert differing == ["blk.5.ffn_down.weight"]
    rt = CTransformersRuntime(changed)
    try:
        text = _generate(rt)
    finally:
        rt.close()
    assert text != _generate(runtime), text


@pytest.mark.slow
@pytest.mark.model
def test_refuses_when_the_disk_is_nearly_full(trainable, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        export_mod.shutil, "disk_usage", lambda path: usage._replace(free=200_000_000)
    )  # < 2 x ~175 MB
    with pytest.raises(ExportError, match="not enough disk space"):
        export_gguf(trainable.model, bundled_gguf(), tmp_path / "out.gguf")
    assert list(tmp_path.iterdir()) == []


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


@pytest.mark.slow
def test_rejects_bad_inputs(tmp_path):
    model = _tiny_llama()
    out = tmp_path / "out.gguf"
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(bundled_gguf().read_bytes()[:1_000_000])
    with pytest.raises(ExportError, match="not a usable template"):
        export_gguf(model, truncated, out)
    with pytest.raises(ExportError, match="not supported"):
        export_gguf(model, bundled_gguf(), out, quant="q2_k")
    with pytest.raises(ExportError, match="does not match the template"):
        export_gguf(model, bundled_gguf(), out)
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")
    with pytest.raises(ExportError, match="NaN"):
        export_gguf(model, bundled_gguf(), out)
    assert list(tmp_path.iterdir()) == [truncated]


def test_load_trainable_rejects_junk(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    with pytest.raises(WeightsError):
        load_trainable(junk, tmp_path / "cache")
    with pytest.raises(WeightsError, match="no such file"):
        load_trainable(tmp_path / "missing.gguf", tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*/config.json"))
