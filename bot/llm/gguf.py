"""GGUF files as serving needs them: the one module that knows the bundled model's file format.

The registry serves files adapted for ctransformers; llama.cpp (and transformers, for the nightly
fine-tune) need the standard form back. Both directions, their marker and constants live here, so
``bot.llm`` never reaches into ``finetune`` and ``finetune`` uses these public names.

**Adapting for ctransformers.** ctransformers bundles llama.cpp from 2023-09. Files written by
today's converters differ from what that loader expects in three ways (measured, see docs/models.md):

1. it requires ``tokenizer.ggml.scores`` (BPE vocabularies no longer carry it) -> zeros;
2. it does not understand tied embeddings -> ``output.weight`` is written as a copy of
   ``token_embd.weight``;
3. it expects tokens as raw bytes, not GPT-2's printable byte-level alphabet; its merge lookup
   re-maps only space (U+0120) and newline (U+010A) -> merges keep those two, other bytes raw.

The result is written with a version-2 header (v3 only added big-endian files).

**Restoring the standard file.** The adaptation is exactly invertible for this vocabulary (all
49,152 tokens and 48,900 merges of the bundled model come back byte for byte, tested), and every
restored string is checked to adapt back to the stored one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

__all__ = [
    "ADAPTED_MARKER",
    "GGUFFormatError",
    "adapt_for_ctransformers",
    "architecture",
    "byte_level_to_raw",
    "field_value",
    "is_adapted",
    "restore_standard_gguf",
    "standard_fields",
    "tied_output_copy",
]

_SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture"}
_TOKENS = "tokenizer.ggml.tokens"
_MERGES = "tokenizer.ggml.merges"
_SCORES = "tokenizer.ggml.scores"
ADAPTED_MARKER = "supportbot.ctransformers_compat"


class GGUFFormatError(RuntimeError):
    """The file is not a GGUF this module understands, or cannot be converted exactly."""


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode`` table."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes)}


def byte_level_to_raw(token: str) -> bytes:
    """``'Ġhello'`` -> ``b' hello'``. Special tokens (``<|im_start|>``) pass through unchanged."""
    table = _unicode_to_byte()
    if not all(ch in table for ch in token):
        return token.encode("utf-8")
    return bytes(table[ch] for ch in token)


def _merge_side(part: str) -> bytes:
    raw = byte_level_to_raw(part)
    # The old loader maps ' ' and '\n' to their GPT-2 forms before it looks merges up.
    return raw.replace(b" ", "Ġ".encode()).replace(b"\n", "Ċ".encode())


def field_value(field):
    """``(value, type, sub_type)`` of a reader field, as ``GGUFWriter.add_key_value`` takes them."""
    vtype = field.types[0]
    if vtype == GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == GGUFValueType.STRING:
            return [bytes(field.parts[i]) for i in field.data], vtype, sub
        return [field.parts[i].tolist()[0] for i in field.data], vtype, sub
    if vtype == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]), vtype, None
    return field.parts[field.data[0]].tolist()[0], vtype, None


def is_adapted(path: str | os.PathLike) -> bool:
    """True for a file written by :func:`adapt_for_ctransformers`."""
    try:
        return ADAPTED_MARKER in GGUFReader(path).fields
    except Exception as exc:  # numpy/struct errors on truncated or foreign files
        raise GGUFFormatError(f"{path}: not a readable GGUF file ({exc})") from exc


def adapt_for_ctransformers(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``dst``: a copy of ``src`` that ctransformers' GGUF loader accepts.

    Written to ``dst + '.tmp'`` and renamed, so a crash never leaves a half-written model behind.
    """
    try:
        reader = GGUFReader(src)
    except Exception as exc:  # numpy/struct errors on truncated or foreign files
        raise GGUFFormatError(f"{src}: not a readable GGUF file ({exc})") from exc
    arch_field = reader.fields.get("general.architecture")
    if arch_field is None:
        raise GGUFFormatError(f"{src}: no general.architecture key")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
    if arch != "llama":
        raise GGUFFormatError(f"{src}: architecture {arch!r}; only 'llama' loads in ctransformers")
    if _TOKENS not in reader.fields:
        raise GGUFFormatError(f"{src}: no tokenizer vocabulary")

    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    writer = GGUFWriter(tmp, arch)
    n_tokens = 0
    for key, field in reader.fields.items():
        if key in _SKIP_KEYS or key == _SCORES:
            continue
        value, vtype, sub = field_value(field)
        if key == _TOKENS:
            value = [byte_level_to_raw(t.decode("utf-8")) for t in value]
            n_tokens = len(value)
        elif key == _MERGES:
            value = [b" ".join(_merge_side(side) for side in m.decode("utf-8").split(" ", 1)) for m in value]
        writer.add_key_value(key, value, vtype, sub_type=sub)
    writer.add_key_value(_SCORES, [0.0] * n_tokens, GGUFValueType.ARRAY, GGUFValueType.FLOAT32)
    writer.add_key_value(ADAPTED_MARKER, True, GGUFValueType.BOOL)

    names = {t.name for t in reader.tensors}
    for t in reader.tensors:
        _add_tensor(writer, t.name, t)
    if "output.weight" not in names:
        _add_tensor(writer, "output.weight", next(t for t in reader.tensors if t.name == "token_embd.weight"))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(tmp, "r+b") as fh:  # version field follows the 4-byte magic
        fh.seek(4)
        fh.write(np.uint32(2).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dst)
    return dst


def _add_tensor(writer: GGUFWriter, name: str, t) -> None:
    # Quantised tensors are copied byte for byte: the writer derives the shape from the byte rows.
    writer.add_tensor(name, np.asarray(t.data), raw_dtype=t.tensor_type)


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
    strings, its scores and marker are dropped. Raises :class:`GGUFFormatError` if a restored string
    would not adapt back to the stored one (the mapping would then not be exact)."""
    adapted = ADAPTED_MARKER in reader.fields
    out = []
    for key, field in reader.fields.items():
        if key in _SKIP_KEYS or key == ADAPTED_MARKER or (adapted and key == _SCORES):
            continue
        value, vtype, sub = field_value(field)
        if adapted and key == _TOKENS:
            restored = [_raw_to_byte_level(t) for t in value]
            if any(byte_level_to_raw(r) != t for r, t in zip(restored, value)):
                raise GGUFFormatError(f"{src}: its vocabulary cannot be restored to byte-level form")
            value = [r.encode() for r in restored]
        elif adapted and key == _MERGES:
            pairs = [m.split(b" ", 1) for m in value]
            restored = [(_restore_merge_side(a), _restore_merge_side(b)) for a, b in pairs]
            if any(_merge_side(a) + b" " + _merge_side(b) != m for (a, b), m in zip(restored, value)):
                raise GGUFFormatError(f"{src}: its merges cannot be restored to byte-level form")
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
        raise GGUFFormatError("no general.architecture key")
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
