"""Write a trained (merged) llama model back to a GGUF that ctransformers 0.2.27 serves.

The template GGUF (the base model's file, original or adapted) supplies every metadata and
tokenizer field and the tensor order; only the tensor data is replaced by the model's weights.
Matrices are quantised to Q8_0 with ``gguf.quants`` (norms stay F32). The standard-format file is
written to a hidden temp file, then :func:`adapt_for_ctransformers` writes the served copy to
``out_path`` (itself temp file + ``os.replace``), so a crash never leaves a half-written model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from gguf import (
    GGML_QUANT_SIZES,
    MODEL_ARCH,
    GGMLQuantizationType,
    GGUFReader,
    GGUFValueType,
    GGUFWriter,
    LlamaFileType,
    TensorNameMap,
)
from gguf.quants import quantize

from bot.llm.gguf import (
    GGUFFormatError,
    adapt_for_ctransformers,
    architecture,
    standard_fields,
    tied_output_copy,
)

# "template": every tensor keeps the template's type (Q4_1 matrices, Q8_0 token_embd for the bundled
# model). gguf.quants re-quantises the bundled file's Q4_1 blocks byte for byte, so an untrained
# round trip reproduces the served file exactly; q8_0 is finer but changes greedy text slightly.
QUANTS = {
    "q8_0": (GGMLQuantizationType.Q8_0, LlamaFileType.MOSTLY_Q8_0),
    "f16": (GGMLQuantizationType.F16, LlamaFileType.MOSTLY_F16),
    "template": (None, None),
}
# Free space wanted, as a multiple of the expected file size: the standard-format temp file and
# the adapted copy exist side by side for a moment.
SPACE_FACTOR = 2.0


class ExportError(RuntimeError):
    """The model or the template cannot be exported, or there is no room to write it."""


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp converter's row order for q/k projections: per head, interleave the two rotary
    halves. transformers applies the inverse when it reads a GGUF."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model, template_gguf: Path, out_path: Path, *, quant: str = "q8_0") -> Path:
    """Write ``model`` (a plain ``LlamaForCausalLM``, LoRA merged) to ``out_path`` for ctransformers."""
    if quant not in QUANTS:
        raise ExportError(f"quant {quant!r} not supported; use one of {sorted(QUANTS)}")
    qtype, file_type = QUANTS[quant]
    template_gguf, out_path = Path(template_gguf), Path(out_path)
    try:
        reader = GGUFReader(template_gguf)
        arch = architecture(reader)
        fields = standard_fields(reader, template_gguf)
    except Exception as exc:  # struct/numpy errors on truncated or foreign files, GGUFFormatError
        raise ExportError(f"{template_gguf}: not a usable template GGUF ({exc})") from exc
    if arch != "llama":
        raise ExportError(f"{template_gguf}: architecture {arch!r}; only 'llama' is exported")

    tensors = _model_tensors(model, reader, qtype)
    expected = reader.tensors[0].data_offset + sum(_nbytes(a, q) for a, q in tensors.values())
    if "output.weight" not in tensors:  # adaptation adds a copy of token_embd as output.weight
        expected += _nbytes(*tensors["token_embd.weight"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_path.parent).free
    if free < SPACE_FACTOR * expected:
        raise ExportError(
            f"not enough disk space in {out_path.parent}: {free / 1e6:.0f} MB free, "
            f"{SPACE_FACTOR * expected / 1e6:.0f} MB needed for a {expected / 1e6:.0f} MB model"
        )

    standard = out_path.with_name(f".{out_path.name}.standard.tmp")
    try:
        writer = GGUFWriter(standard, arch)
        for key, value, vtype, sub in fields:
            if key == "general.file_type" and file_type is not None:
                value, vtype = int(file_type), GGUFValueType.UINT32
            writer.add_key_value(key, value, vtype, sub_type=sub)
        for name, (arr, q) in tensors.items():
            if q == GGMLQuantizationType.F32:
                writer.add_tensor(name, arr)
            elif q == GGMLQuantizationType.F16:
                writer.add_tensor(name, arr.astype(np.float16))
            else:
                try:
                    writer.add_tensor(name, quantize(arr, q), raw_dtype=q)
                except NotImplementedError as exc:  # e.g. a K-quant template with quant="template"
                    raise ExportError(f"{name}: {exc}; export with quant='q8_0'") from exc
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        adapt_for_ctransformers(standard, out_path)
    except GGUFFormatError as exc:
        raise ExportError(str(exc)) from exc
    finally:
        standard.unlink(missing_ok=True)
        out_path.with_name(out_path.name + ".tmp").unlink(missing_ok=True)
    return out_path


def _model_tensors(
    model, reader: GGUFReader, qtype: GGMLQuantizationType | None
) -> dict[str, tuple[np.ndarray, GGMLQuantizationType]]:
    """GGUF name -> (fp32 array in GGUF row order, type to write), in the template's tensor order."""
    config = model.config
    if getattr(config, "model_type", None) != "llama":
        raise ExportError(f"model type {getattr(config, 'model_type', None)!r}; only llama is exported")
    n_head, n_kv = config.num_attention_heads, config.num_key_value_heads
    names = TensorNameMap(MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = getattr(config, "tie_word_embeddings", False)

    ours: dict[str, np.ndarray] = {}
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue
        if "lora_" in hf_name or hf_name.startswith("base_model."):
            raise ExportError(f"{hf_name}: a PEFT model; call merge_and_unload() before exporting")
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"{hf_name}: no GGUF name for this tensor")
        arr = tensor.detach().to("cpu").float().numpy()
        if not np.isfinite(arr).all():
            raise ExportError(f"{hf_name}: has NaN or infinite values (training diverged?)")
        if gguf_name.endswith("attn_q.weight"):
            arr = permute_qk(arr, n_head)
        elif gguf_name.endswith("attn_k.weight"):
            arr = permute_qk(arr, n_kv)
        ours[gguf_name] = np.ascontiguousarray(arr)

    order = [t.name for t in reader.tensors if not (t.name == "output.weight" and tied_output_copy(reader))]
    order += [n for n in ours if n not in order]  # e.g. an untied output.weight the template lacks
    template_shapes = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}
    template_types = {t.name: t.tensor_type for t in reader.tensors}
    missing = [n for n in order if n not in ours]
    if missing:
        raise ExportError(f"the model does not match the template: no weights for {missing[:5]}")
    out = {}
    for name in order:
        arr = ours[name]
        want = template_shapes.get(name)
        if want is not None and tuple(arr.shape) != want:
            raise ExportError(
                f"the model does not match the template: {name} is {tuple(arr.shape)}, not {want}"
            )
        q = qtype or template_types.get(name, template_types["token_embd.weight"])
        if arr.ndim != 2 and qtype is not None:
            q = GGMLQuantizationType.F32  # norms stay F32
        if arr.shape[-1] % GGML_QUANT_SIZES[q][0]:
            q = GGMLQuantizationType.F32  # rows that do not fill whole quant blocks
        out[name] = (arr, q)
    return out


def _nbytes(arr: np.ndarray, q: GGMLQuantizationType) -> int:
    block, size = GGML_QUANT_SIZES[q]
    return arr.size // block * size
