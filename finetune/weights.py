"""Trainable fp32 Hugging Face weights for a GGUF model version, cached on disk.

transformers can read a GGUF (``from_pretrained(dir, gguf_file=name)``, dequantised to fp32, ~15 s)
but only a *standard-format* one. The files the registry serves (``data/models/*.gguf``) are
ctransformers copies written by :func:`finetune.gguf_compat.adapt_for_ctransformers`, and
transformers cannot read those: their tokens are raw bytes, not UTF-8, so its metadata parser
fails with ``UnicodeDecodeError`` (and the extra ``output.weight`` would untie the embeddings).

So either file is accepted. An adapted file is first turned back into a standard one
(:func:`restore_standard_gguf`): the adaptation is exactly invertible for this vocabulary
(all 49,152 tokens and 48,900 merges of the bundled model come back byte for byte, tested) and
every restored string is checked to adapt back to the stored one. The weights are cached per
file content in ``cache_dir/<sha256[:16]>/`` as safetensors, so a later call loads in well under
a second.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFWriter

from finetune.gguf_compat import (
    ADAPTED_MARKER,
    _field_value,
    _merge_side,
    _unicode_to_byte,
    byte_level_to_raw,
)

_TOKENS = "tokenizer.ggml.tokens"
_MERGES = "tokenizer.ggml.merges"
_SCORES = "tokenizer.ggml.scores"
_SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture"}


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
            src = restore_standard_gguf(src, work / "standard.gguf")
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
        return ADAPTED_MARKER in GGUFReader(path).fields
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable GGUF file ({exc})") from exc


@lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    return {b: ch for ch, b in _unicode_to_byte().items()}


def _raw_to_byte_level(raw: bytes) -> str:
    table = _byte_to_unicode()
    return "".join(table[b] for b in raw)


def _restore_merge_side(side: bytes) -> str:
    return _raw_to_byte_level(side.replace("Ġ".encode(), b" ").replace("Ċ".encode(), b"\n"))


def standard_fields(reader: GGUFReader, src: Path | str = "GGUF"):
    """The file's key/value fields as ``(key, value, type, sub_type)`` in standard (llama.cpp
    converter) form: an adapted file's raw-byte tokens and merges go back to GPT-2 byte-level
    strings, its scores and marker are dropped. Raises :class:`WeightsError` if a restored string
    would not adapt back to the stored one (the mapping would then not be exact)."""
    adapted = ADAPTED_MARKER in reader.fields
    out = []
    for key, field in reader.fields.items():
        if key in _SKIP_KEYS or key == ADAPTED_MARKER or (adapted and key == _SCORES):
            continue
        value, vtype, sub = _field_value(field)
        if adapted and key == _TOKENS:
            restored = [_raw_to_byte_level(t) for t in value]
            if any(byte_level_to_raw(r) != t for r, t in zip(restored, value)):
                raise WeightsError(f"{src}: its vocabulary cannot be restored to byte-level form")
            value = [r.encode() for r in restored]
        elif adapted and key == _MERGES:
            pairs = [m.split(b" ", 1) for m in value]
            restored = [(_restore_merge_side(a), _restore_merge_side(b)) for a, b in pairs]
            if any(_merge_side(a) + b" " + _merge_side(b) != m for (a, b), m in zip(restored, value)):
                raise WeightsError(f"{src}: its merges cannot be restored to byte-level form")
            value = [f"{a} {b}".encode() for a, b in restored]
        out.append((key, value, vtype, sub))
    return out


def tied_output_copy(reader: GGUFReader) -> bool:
    """True when ``output.weight`` is only the copy of ``token_embd.weight`` the adapter adds."""
    tensors = {t.name: t for t in reader.tensors}
    return "output.weight" in tensors and np.array_equal(
        np.asarray(tensors["output.weight"].data), np.asarray(tensors["token_embd.weight"].data)
    )


def architecture(reader: GGUFReader) -> str:
    field = reader.fields.get("general.architecture")
    if field is None:
        raise WeightsError("no general.architecture key")
    return bytes(field.parts[field.data[0]]).decode()


def restore_standard_gguf(src: Path, dst: Path) -> Path:
    """Undo :func:`adapt_for_ctransformers`: byte-level tokens and merges, no scores, no marker,
    and no ``output.weight`` when it is a copy of ``token_embd.weight`` (tied embeddings)."""
    reader = GGUFReader(src)
    writer = GGUFWriter(dst, architecture(reader))
    for key, value, vtype, sub in standard_fields(reader, src):
        writer.add_key_value(key, value, vtype, sub_type=sub)
    tied = tied_output_copy(reader)
    for t in reader.tensors:
        if not (tied and t.name == "output.weight"):
            writer.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(dst)
