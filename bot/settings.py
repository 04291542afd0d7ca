"""The one settings object. Every backend is chosen here, from env vars (``SUPPORTBOT_*``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Storage
    data_dir: Path = Field(Path("./data"), description="Where the SQLite file, Chroma and models live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/supportbot.db"
    )

    # Vector store: embedded Chroma under data_dir unless a server URL is given.
    chroma_path: Path | None = Field(None, description="Embedded Chroma folder; default <data_dir>/chroma")
    chroma_url: str | None = Field(None, description="Chroma server, e.g. http://chroma:8000")
    chroma_collection: str = "faq"
    embedding_model_path: Path | None = Field(
        None, description="sentence-transformers folder; default: the bundled all-MiniLM-L6-v2"
    )

    # Retrieval
    retrieval_top_k: int = Field(5, ge=1, le=50)
    # Unset: the default measured on CLINC150 val for the FAQ's mean phrasings per entry (answer 96%
    # of in-scope questions; retrieval/calibration.py, docs/benchmarks.md). A number fixes it.
    abstain_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="Below this retrieval score the bot abstains (base embedder)."
    )
    tuned_abstain_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="The same, once the embedder is tuned to the FAQ."
    )
    # Tuning the embedder to the FAQ is what lifts hit@1 clearly above plain dense search
    # (docs/benchmarks.md), so an import that changed the FAQ tunes by default.
    tune_on_import: bool = Field(
        True, description="`faq import` (and `eval retrieval`) tune the embedder to the FAQ after a change"
    )
    tune_steps: int = Field(
        60, ge=1, le=10000, description="Training steps of one embedder tuning (60 measured best)"
    )

    # Model runtime
    # "mock": a runtime with no weights (bot/llm/mock_runtime.py) for transport and routing tests.
    model_backend: Literal["ctransformers", "llama-cpp", "openai", "mock"] = "ctransformers"
    model_path: Path | None = Field(
        None, description="GGUF to serve; default: the active model version in the database"
    )
    model_threads: int = Field(2, ge=1)
    openai_base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://llm:8080/v1")
    openai_model: str = Field("supportbot", description="Model name to ask the server for")
    openai_api_key: SecretStr | None = None
    model_context_length: int = Field(2048, ge=256)
    max_new_tokens: int = Field(160, ge=1, le=2048)
    max_question_chars: int = Field(4000, ge=1)
    generation_timeout_s: float = Field(60.0, gt=0, description="Per-request generation limit")
    answer_lease_s: float = Field(
        300.0,
        ge=5,
        description="A Slack question with no answer recorded this long after a process took it "
        "(that process died, the database went away) is answered by any process",
    )
    recovery_interval_s: float = Field(
        30.0, gt=0, description="How often each bot process looks for such questions"
    )
    queue_capacity: int = Field(32, ge=1, description="Questions waiting for the model before 'busy'")
    model_poll_seconds: float = Field(10.0, gt=0, description="How often to check for a promoted model")
    direct_answer_score: float = Field(
        1.01,
        ge=0,
        le=1.01,
        description="At or above this retrieval score the FAQ answer is sent as written, skipping the "
        "model (default: never; 0.85 answers questions that are one of an entry's phrasings instantly)",
    )
    grounding_threshold: float = Field(
        0.8, ge=0, le=1, description="Share of an answer's content words that must come from its sources"
    )

    # Slack (used by `supportbot serve`)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids allowed to review answers, comma-separated"
    )
    admin_group: str | None = Field(None, description="A Slack user group id whose members are admins too")
    review_channel: str | None = Field(None, description="Channel id where answers are posted for review")
    review_mode: Literal["all", "flagged", "sample", "off"] = Field(
        "flagged",
        description="Which answers go to review: all; flagged (abstained, not helpful, "
        "escalated, human replies); sample (flagged plus a random share); off",
    )
    review_sample_rate: float = Field(0.1, ge=0, le=1, description="Share of other answers sampled")
    support_channel: str | None = Field(None, description="Channel id where hand-offs to humans are posted")
    channel_modes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Per-channel behaviour, e.g. C123:all,C456:never "
        "(all: answer every question; mention: only when mentioned; never)",
    )
    default_channel_mode: Literal["mention", "all", "never"] = "mention"
    handoff_webhook_url: str | None = Field(None, description="Ticketing webhook called on every hand-off")
    handoff_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret for the webhook's X-Supportbot-Signature (HMAC-SHA256)"
    )
    stream_update_interval_s: float = Field(
        1.2, ge=0.1, description="Least time between two chat.update calls for one streamed answer"
    )
    http_port: int = Field(3000, ge=1, le=65535, description="Port for `serve --http`")
    slack_transport: Literal["socket", "http"] = Field(
        "socket",
        description="How `supportbot serve` gets Slack events when neither --http nor --socket is given",
    )

    # Operations: /healthz, /readyz and /metrics of `supportbot serve` and `supportbot worker`
    metrics_host: str = Field(
        "127.0.0.1", description="Interface of the ops endpoints (0.0.0.0 in containers)"
    )
    metrics_port: int = Field(9464, ge=1, le=65535, description="Ops port of `supportbot serve`")
    worker_metrics_port: int = Field(9465, ge=1, le=65535, description="Ops port of `supportbot worker`")
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one object per line, with request_id"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Nightly learning (`supportbot worker`, `supportbot finetune run`)
    finetune_time: str = Field(
        "02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="When the nightly fine-tune starts, HH:MM"
    )
    finetune_timezone: str = Field("UTC", description="Time zone of finetune_time, e.g. Europe/Berlin")
    finetune_misfire_grace_s: int = Field(
        3 * 3600,
        ge=1,
        description="A run missed (worker down) starts late within this many seconds, else waits",
    )
    finetune_min_examples: int = Field(
        20, ge=1, description="No run until this many new approved transcripts"
    )
    finetune_eval_share: float = Field(
        0.2, gt=0, lt=1, description="Share of approved pairs held out for the gate"
    )
    finetune_lora_rank: int = Field(16, ge=1)
    finetune_lora_alpha: int = Field(32, ge=1)
    finetune_lora_targets: str = Field(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        description="Modules LoRA adapts, comma-separated",
    )
    finetune_epochs: int = Field(3, ge=1)
    finetune_learning_rate: float = Field(3e-4, gt=0)
    finetune_batch_size: int = Field(4, ge=1)
    finetune_max_seq_len: int = Field(384, ge=64)
    finetune_seed: int = 1234
    finetune_margin: float = Field(
        0.02, ge=0, description="ROUGE-L gain on held-out pairs the candidate needs over the served model"
    )
    finetune_drop_tolerance: float = Field(
        0.01, ge=0, description="A gate metric counts as dropped only when it falls by more than this"
    )
    finetune_regression_size: int = Field(30, ge=1, description="FAQ entries in the default regression set")
    finetune_regression_file: Path | None = Field(
        None, description="Fixed regression set (JSONL like `eval answers`); default: the FAQ's own entries"
    )

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("channel_modes", mode="before")
    @classmethod
    def _split_modes(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [p.strip() for p in value.split(",") if p.strip()]
            modes = {}
            for pair in pairs:
                channel, sep, mode = pair.partition(":")
                if not sep or mode.strip() not in ("all", "mention", "never"):
                    raise ValueError(f"channel mode {pair!r}: expected CHANNEL:all|mention|never")
                modes[channel.strip()] = mode.strip()
            return modes
        return value

    def channel_mode(self, channel_id: str) -> str:
        return self.channel_modes.get(channel_id, self.default_channel_mode)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'supportbot.db').resolve()}"

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
