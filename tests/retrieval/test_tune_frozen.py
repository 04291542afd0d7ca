"""Tuning with the token-embedding table frozen (TuneParams.freeze_token_embeddings): what lets a
large embedder be tuned on a small machine. Real tuning of the bundled MiniLM."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import SentenceTransformer

from retrieval.embedder import bundled_model_path
from retrieval.tune import TuneParams, tune_embedder

pytestmark = pytest.mark.slow

GROUPS = [
    ["How do I reset my VPN password?", "vpn password forgotten", "cannot log in to the VPN"],
    ["Where is my payslip?", "download payslip", "salary statement"],
    ["How do I book holidays?", "request annual leave", "vacation request"],
]


def _weights(path) -> tuple[torch.Tensor, torch.Tensor]:
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    auto = model[0].auto_model
    return (
        auto.get_input_embeddings().weight.detach().clone(),
        auto.encoder.layer[0].attention.self.query.weight.detach().clone(),
    )


@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_table_stays_the_base_models_while_the_encoder_learns(tmp_path, frozen):
    base_table, base_query = _weights(bundled_model_path())
    out = tune_embedder(
        bundled_model_path(),
        GROUPS,
        tmp_path / "tuned",
        TuneParams(steps=3, batch_entries=3, freeze_token_embeddings=frozen),
    )
    table, query = _weights(out)
    assert not torch.equal(query, base_query)  # the encoder learned either way
    assert torch.equal(table, base_table) is frozen  # the table only when not frozen
