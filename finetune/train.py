"""LoRA fine-tuning with peft: loss on the response only, EOS appended, fixed seed, progress bar.

CPU by default (fp32, what the nightly run on a small machine uses), CUDA when present.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from finetune.data import Example

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class LoraParams:
    rank: int = 16
    alpha: int = 32
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    epochs: int = 3
    learning_rate: float = 3e-4
    batch_size: int = 4
    max_seq_len: int = 384
    seed: int = 1234
    dropout: float = 0.05

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "targets": list(self.targets),
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "max_seq_len": self.max_seq_len,
            "seed": self.seed,
        }


@dataclass
class TrainStats:
    steps: int = 0
    examples: int = 0
    device: str = "cpu"
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        first = self.losses[: max(1, len(self.losses) // 5)]
        last = self.losses[-max(1, len(self.losses) // 5) :]
        return {
            "steps": self.steps,
            "examples": self.examples,
            "device": self.device,
            "seconds": round(self.seconds, 1),
            "loss_start": round(sum(first) / len(first), 4) if first else None,
            "loss_end": round(sum(last) / len(last), 4) if last else None,
        }


def encode(example: Example, tokenizer, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels: the prompt is context (label -100), the answer + EOS is learned.

    No BOS and no special tokens in the prompt, exactly as the serving runtime sees it.
    """
    prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    answer = tokenizer(example.output.strip(), add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]
    if len(prompt) + len(answer) > max_len:
        # Keep the whole answer when possible; trim the context from the left, never the instruction end.
        keep = max(max_len - len(answer), max_len // 2)
        prompt = prompt[-keep:]
        answer = answer[: max_len - len(prompt)]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def train_lora(
    model,
    tokenizer,
    examples: list[Example],
    params: LoraParams,
    on_step: Callable[[int, int, float], None] | None = None,
):
    """Train a LoRA on ``examples`` and return the merged plain model and stats."""
    import torch
    from peft import LoraConfig, get_peft_model

    started = time.perf_counter()
    random.seed(params.seed)
    torch.manual_seed(params.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    model.config.use_cache = False
    config = LoraConfig(
        r=params.rank,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=list(params.targets),
        task_type="CAUSAL_LM",
        bias="none",
    )
    peft_model = get_peft_model(model, config)
    peft_model.train()
    optim = torch.optim.AdamW(
        [p for p in peft_model.parameters() if p.requires_grad], lr=params.learning_rate
    )

    encoded = [encode(e, tokenizer, params.max_seq_len) for e in examples]
    steps_per_epoch = math.ceil(len(encoded) / params.batch_size)
    total = steps_per_epoch * params.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.0, 1 - s / max(1, total))
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rng = random.Random(params.seed)
    stats = TrainStats(examples=len(examples), device=device)
    step = 0
    for _epoch in range(params.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for start in range(0, len(order), params.batch_size):
            batch = [encoded[i] for i in order[start : start + params.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch], device=device)
            labels = torch.tensor([y + [IGNORE] * (width - len(y)) for _, y in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in batch], device=device)
            loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(peft_model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            stats.losses.append(float(loss.detach()))
            if on_step:
                on_step(step, total, stats.losses[-1])
    stats.steps = step
    merged = peft_model.merge_and_unload()
    merged.eval()
    merged.to("cpu")
    stats.seconds = time.perf_counter() - started
    return merged, stats
