"""Trainable fp32 Hugging Face weights for a GGUF model version, cached on disk.

transformers can read a GGUF (``from_pretrained(dir, gguf_file=name)``, dequantised to fp32, ~15 s)
but only a *standard-format* one. The files the registry serves (``data/models/*.gguf``) are
ctransformers copies written by :func:`bot.llm.gguf.adapt_for_ctransformers`, and
transformers cannot read those: their tokens are raw bytes, not UTF-8, so its metadata parser
fails with ``UnicodeDecodeError`` (and the extra ``output.weight`` would untie the embeddings).

So either file is accepted. An adapted file is first turned back into a standard one
(:func:`bot.llm.gguf.restore_standard_gguf`, exactly invertible for this vocabulary). The weights are cached per
file content in ``cache_dir/<sha256[:16]>/`` as safetensors, so a later call loads in well under
a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bot.llm.gguf import GGUFFormatError, is_adapted, restore_standard_gguf


class WeightsError(RuntimeError):
    """The GGUF could not be turned into trainable weights."""


def load_trainable(base_gguf: Path, cache_dir: Path):
    """``(model, tokenizer)``: an fp32 ``LlamaForCausalLM`` and its tokenizer for ``base_gguf``.

    ``base_gguf`` may be the original file or a ctransformers-adapted copy. The first call per file
    content converts (15-25 s on 2 cores) and caches; later calls load the cache. The returned model is always
    the one read back from the cache, so first and later calls give the same clean object (no GGUF
    quantizer attached).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bot.llm.registry import sha256_file

    base_gguf = Path(base_gguf)
    if not base_gguf.is_file():
        raise WeightsError(f"{base_gguf}: no such file")
    target = Path(cache_dir) / sha256_file(base_gguf)[:16]
    if not (target / "config.json").is_file():
        _build_cache(base_gguf, target)
    model = AutoModelForCausalLM.from_pretrained(target, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(target)
    return model, tokenizer


def _build_cache(src: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*"):  # left by a killed run over an hour ago
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    if target.exists():  # a damaged entry (no config.json): rebuild it
        shutil.rmtree(target)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if is_adapted_file(src):
            try:
                src = restore_standard_gguf(src, work / "standard.gguf")
            except GGUFFormatError as exc:
                raise WeightsError(str(exc)) from exc
        try:
            model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
            tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        except Exception as exc:
            raise WeightsError(
                f"{src}: transformers could not read it ({type(exc).__name__}: {exc})"
            ) from exc
        # save_pretrained refuses a model that carries the GGUF quantizer; the weights are plain fp32.
        model.config.__dict__.pop("quantization_config", None)
        model.hf_quantizer = None
        out = work / "hf"
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        try:
            os.rename(out, target)  # atomic: a killed process leaves only a dot-prefixed temp dir
        except OSError:
            if not (target / "config.json").is_file():  # not a lost race with another process
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def is_adapted_file(path: Path) -> bool:
    try:
        return is_adapted(path)
    except GGUFFormatError as exc:
        raise WeightsError(str(exc)) from exc
