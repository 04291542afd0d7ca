"""The one settings object. Every backend is chosen here, from env vars (``SUPPORTBOT_*``) or ``.env``."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    HttpUrl,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Slack ids as Slack sends them in events; the bot compares them with these settings, so a #name or a
# lowercase id would silently never match.
USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
GROUP_ID = re.compile(r"^S[A-Z0-9]+$")
CHANNEL_MODES = ("all", "mention", "never")
# Chroma's own rule for collection names (3-512 of [a-zA-Z0-9._-], alphanumeric at both ends), cut to 32
# so that a tuned copy's name, "<collection>-<YYYYmmdd-HHMMSS>-r<revision>" (retrieval/index.py), stays
# within the 60 characters it is truncated to.
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,30}[A-Za-z0-9]$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
DB_INTEGER_MAX = 2**31 - 1  # PostgreSQL's integer, the id columns' type


def _http_url(value: str | None) -> str | None:
    """An http(s) URL with a host and a valid port, as pydantic's HttpUrl checks it; kept as given."""
    if value is None:
        return None
    try:
        url = TypeAdapter(HttpUrl).validate_python(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Input should be a valid URL, ")
        raise ValueError(
            f"must be an http:// or https:// URL with a host, e.g. http://host:8000 ({reason})"
        ) from None
    if url.port == 0:  # HttpUrl allows it; nothing can be reached on port 0, so every request would fail
        raise ValueError("must be an http:// or https:// URL with a host, e.g. http://host:8000 (port 0)")
    return value


def _existing(kind: str):
    def check(value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            return _check(value)
        except OSError as exc:  # a name too long, a component that is a file...: not a usable path
            raise ValueError(f"not a usable path ({exc.strerror or exc})") from None

    def _check(value: Path) -> Path:
        if kind == "dir" and not value.is_dir():
            raise ValueError("is not a directory" if value.exists() else "does not exist")
        if kind == "file" and not value.is_file():
            raise ValueError("is not a file" if value.exists() else "does not exist")
        if kind == "dir-or-new" and value.exists() and not value.is_dir():
            raise ValueError("exists and is not a directory")
        if kind == "model-dir" and not (value / "config.json").is_file():
            # sentence-transformers would take any other folder for a hub model name, and fail late.
            raise ValueError(
                ("does not exist" if not value.exists() else "is not a model folder (no config.json)")
                + "; expected a sentence-transformers folder like all-MiniLM-L6-v2"
            )
        return value

    return AfterValidator(check)


def _slack_id(pattern: re.Pattern, example: str):
    def check(value: str | None) -> str | None:
        if value is not None and not pattern.match(value):
            raise ValueError(f"must be a Slack id like {example}, not a name")
        return value

    return AfterValidator(check)


def _token(prefix: str, what: str):
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(prefix):
            # The value itself is never repeated: it is a secret.
            raise ValueError(f"must be {what}, starting with {prefix}")
        return value

    return AfterValidator(check)


def check_host(value: str) -> str:
    """An interface to listen on: an IP address or a host name (SUPPORTBOT_METRICS_HOST, serve --host)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        # A name ending in digits is a mistyped address (999.1.1.1, 10.0.0): no top-level domain is
        # numeric, so it would only fail later, when the process binds.
        if not HOSTNAME.match(value) or value.rstrip(".").rpartition(".")[2].isdigit():
            raise ValueError("must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0") from None
    return value


HttpUrlStr = Annotated[str, AfterValidator(_http_url)]
NewOrDir = Annotated[Path, _existing("dir-or-new")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORTBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `SUPPORTBOT_REVIEW_CHANNEL=` (as in .env.example) means unset, not an empty channel id.
        env_ignore_empty=True,
        # inf passes gt=0 and then overflows a timer or a datetime; nan fails every comparison.
        allow_inf_nan=False,
    )

    # Storage
    data_dir: NewOrDir = Field(Path("./data"), description="Where the SQLite file, Chroma and models live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/supportbot.db"
    )
    max_import_file_mb: int = Field(
        20,
        ge=1,
        le=2048,
        description="Largest file `faq import` (each file of a folder) and `transcripts import` read, in MB; "
        "checked before reading",
    )

    # Vector store: embedded Chroma under data_dir unless a server URL is given.
    chroma_path: Annotated[Path, _existing("dir-or-new")] | None = Field(
        None, description="Embedded Chroma folder; default <data_dir>/chroma"
    )
    chroma_url: HttpUrlStr | None = Field(None, description="Chroma server, e.g. http://chroma:8000")
    chroma_collection: str = Field("faq", description="Collection name (3-32 of letters, digits and ._-)")
    embedding_model_path: Annotated[Path, _existing("model-dir")] | None = Field(
        None, description="sentence-transformers folder; default: the bundled all-MiniLM-L6-v2"
    )
    # Embeddings from an OpenAI-compatible /v1/embeddings server instead (Ollama, llama.cpp server,
    # Text Embeddings Inference, vLLM). It cannot be tuned to the FAQ: retrieval uses it as it is.
    embedding_backend: Literal["sentence-transformers", "openai"] = Field(
        "sentence-transformers", description="sentence-transformers (a local folder) or openai (a server)"
    )
    embedding_url: HttpUrlStr | None = Field(
        None, description="The embedding server, e.g. http://ollama:11434/v1 (with the openai backend)"
    )
    embedding_model: str | None = Field(
        None, min_length=1, max_length=256, description="Model name to ask the embedding server for"
    )
    embedding_api_key: SecretStr | None = None
    embedding_languages: Annotated[list[str], NoDecode] | None = Field(
        None,
        description="ISO 639-1 codes of the languages the embedder reads, comma-separated, or "
        "multilingual; default: the model card's (README.md), else en",
    )
    embedding_prompt_name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A prompt the sentence-transformers folder declares (config_sentence_transformers.json), "
        "put before every text it embeds, e.g. STS for EmbeddingGemma; default: the folder's default prompt, if any",
    )
    embedding_batch_size: int = Field(64, ge=1, le=4096, description="Texts per embedding request")
    embedding_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Most time one embedding request takes, retries included"
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
    model_path: Annotated[Path, _existing("file")] | None = Field(
        None, description="GGUF to serve; default: the active model version in the database"
    )
    model_threads: int = Field(2, ge=1, le=256)
    openai_base_url: HttpUrlStr | None = Field(
        None, description="OpenAI-compatible server, e.g. http://llm:8080/v1"
    )
    openai_model: str = Field("supportbot", min_length=1, description="Model name to ask the server for")
    openai_api_key: SecretStr | None = None
    model_context_length: int = Field(2048, ge=256, le=131072)
    max_new_tokens: int = Field(160, ge=1, le=2048)
    max_question_chars: int = Field(4000, ge=1, le=40000)  # 40,000: the most a Slack message holds
    generation_timeout_s: float = Field(60.0, gt=0, le=3600, description="Per-request generation limit")
    answer_lease_s: float = Field(
        300.0,
        ge=5,
        le=86400,
        description="A Slack question with no answer recorded this long after a process took it "
        "(that process died, the database went away) is answered by any process",
    )
    recovery_interval_s: float = Field(
        30.0, gt=0, le=3600, description="How often each bot process looks for such questions"
    )
    queue_capacity: int = Field(
        32, ge=1, le=1000, description="Questions waiting for the model before 'busy'"
    )
    model_poll_seconds: float = Field(
        10.0, gt=0, le=86400, description="How often to check for a promoted model"
    )
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
    long_answer_chars: int = Field(
        500,
        ge=0,
        le=100_000,
        description="An FAQ answer longer than this is sent as its lead (the sentences closest to the "
        "question) with the whole entry a click away; 0 sends every entry whole",
    )
    generation: Literal["earned", "always", "never"] = Field(
        "earned",
        description="Whether the model phrases answers: 'earned' (only a model whose measured faithful "
        "share reaches SUPPORTBOT_FAITHFUL_BAR; others answer with the FAQ text in retrieval time), "
        "'always', or 'never'",
    )
    faithful_bar: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Share of held-out answers the faithfulness check must accept before a model "
        "generates (SUPPORTBOT_GENERATION=earned)",
    )
    model_check_questions: int = Field(
        40, ge=1, le=2000, description="FAQ questions `supportbot model check` answers to measure a model"
    )
    model_check_min_answers: int = Field(
        20, ge=1, le=2000, description="A faithful share measured on fewer answers does not count"
    )

    # Slack (used by `supportbot serve`)
    slack_bot_token: Annotated[SecretStr, _token("xoxb-", "a bot token")] | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: Annotated[SecretStr, _token("xapp-", "an app-level token")] | None = None
    slack_api_url: HttpUrlStr = "https://slack.com/api/"
    admin_users: Annotated[list[Annotated[str, _slack_id(USER_ID, "U0123ABCD")]], NoDecode] = Field(
        default_factory=list, description="Slack user ids allowed to review answers, comma-separated"
    )
    admin_group: Annotated[str, _slack_id(GROUP_ID, "S0123ABCD")] | None = Field(
        None, description="A Slack user group id whose members are admins too"
    )
    review_channel: Annotated[str, _slack_id(CHANNEL_ID, "C0123ABCD")] | None = Field(
        None, description="Channel id where answers are posted for review"
    )
    review_mode: Literal["all", "flagged", "sample", "off"] = Field(
        "flagged",
        description="Which answers go to review: all; flagged (abstained, not helpful, "
        "escalated, human replies); sample (flagged plus a random share); off",
    )
    review_sample_rate: float = Field(0.1, ge=0, le=1, description="Share of other answers sampled")
    support_channel: Annotated[str, _slack_id(CHANNEL_ID, "C0123ABCD")] | None = Field(
        None, description="Channel id where hand-offs to humans are posted"
    )
    channel_modes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Per-channel behaviour, e.g. C123:all,C456:never "
        "(all: answer every question; mention: only when mentioned; never)",
    )
    default_channel_mode: Literal["mention", "all", "never"] = "mention"
    handoff_webhook_url: HttpUrlStr | None = Field(
        None, description="Ticketing webhook called on every hand-off"
    )
    handoff_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret for the webhook's X-Supportbot-Signature (HMAC-SHA256)"
    )
    stream_update_interval_s: float = Field(
        1.2, ge=0.1, le=60, description="Least time between two chat.update calls for one streamed answer"
    )
    http_port: int = Field(3000, ge=1, le=65535, description="Port for `serve --http`")
    slack_transport: Literal["socket", "http"] = Field(
        "socket",
        description="How `supportbot serve` gets Slack events when neither --http nor --socket is given",
    )
    drain_timeout_s: float = Field(
        25.0,
        gt=0,
        le=3600,
        description="On SIGTERM, how long `serve --http` waits for answers in progress before it exits",
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
    finetune_time: str = Field("02:00", description="When the nightly fine-tune starts, HH:MM")
    finetune_timezone: str = Field("UTC", description="Time zone of finetune_time, e.g. Europe/Berlin")
    finetune_misfire_grace_s: int = Field(
        3 * 3600,
        ge=1,
        le=7 * 86400,
        description="A run missed (worker down) starts late within this many seconds, else waits",
    )
    finetune_min_examples: int = Field(
        20, ge=1, le=DB_INTEGER_MAX, description="No run until this many new approved transcripts"
    )
    finetune_eval_share: float = Field(
        0.2, gt=0, lt=1, description="Share of approved pairs held out for the gate"
    )
    finetune_lora_rank: int = Field(16, ge=1, le=1024)
    finetune_lora_alpha: int = Field(32, ge=1, le=4096)
    finetune_lora_targets: str = Field(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        description="Modules LoRA adapts, comma-separated",
    )
    finetune_epochs: int = Field(3, ge=1, le=1000)
    finetune_learning_rate: float = Field(3e-4, gt=0, le=1)
    finetune_batch_size: int = Field(4, ge=1, le=4096)
    finetune_max_seq_len: int = Field(384, ge=64, le=131072)
    finetune_seed: int = Field(1234, ge=0, le=2**32 - 1)  # what every RNG seeded with it accepts
    finetune_margin: float = Field(
        0.02,
        ge=0,
        le=1,
        description="ROUGE-L gain on held-out pairs the candidate needs over the served model",
    )
    finetune_drop_tolerance: float = Field(
        0.01, ge=0, le=1, description="A gate metric counts as dropped only when it falls by more than this"
    )
    finetune_regression_size: int = Field(
        30, ge=1, le=100000, description="FAQ entries in the default regression set"
    )
    finetune_regression_file: Annotated[Path, _existing("file")] | None = Field(
        None, description="Fixed regression set (JSONL like `eval answers`); default: the FAQ's own entries"
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        allowed = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        try:
            url = make_url(value)
            port = url.port
        except (ArgumentError, ValueError):
            raise ValueError(f"not a database URL; expected {allowed}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"{url.get_backend_name()!r} is not supported; expected {allowed}")
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            # An in-memory database lives as long as one connection: every command would start empty
            # and forget what it recorded.
            raise ValueError(f"an SQLite database needs a file path; expected {allowed}")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not in 1-65535")
        try:
            url.get_dialect().import_dbapi()
        except ImportError:
            raise ValueError(
                f"driver {url.get_driver_name()!r} is not installed; expected {allowed}"
            ) from None
        except Exception:  # sqlalchemy raises NoSuchModuleError (not an ImportError) for unknown drivers
            raise ValueError(f"unknown driver {url.get_driver_name()!r}; expected {allowed}") from None
        return value

    @field_validator("chroma_collection")
    @classmethod
    def _collection(cls, value: str) -> str:
        if not COLLECTION_NAME.match(value) or ".." in value:
            raise ValueError(
                "must be 3-32 letters, digits and . _ -, starting and ending with a letter or digit"
            )
        return value

    @field_validator("metrics_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value == "":
            return value  # every interface, as for waitress
        return check_host(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("finetune_time")
    @classmethod
    def _time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be HH:MM on a 24-hour clock, 00:00 to 23:59")
        return value

    @field_validator("finetune_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
            raise ValueError("must be an IANA time zone name, e.g. UTC or Europe/Berlin") from None
        return value

    @field_validator("finetune_lora_targets")
    @classmethod
    def _targets(cls, value: str) -> str:
        names = [t.strip() for t in value.split(",") if t.strip()]
        if not names or not all(MODULE_NAME.match(n) for n in names):
            raise ValueError("must be module names separated by commas, e.g. q_proj,v_proj")
        return value

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip() for u in value.split(",") if u.strip()]
        return value

    @field_validator("embedding_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            return [code.strip().lower() for code in value.split(",") if code.strip()]
        return value

    @field_validator("embedding_languages")
    @classmethod
    def _check_languages(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must list ISO 639-1 codes separated by commas, e.g. en,de, or multilingual")
        for code in value:
            if code != "multilingual" and not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(
                    f"{code[:20]!r} is not an ISO 639-1 code; expected codes like en,de,zh, or multilingual"
                )
        return list(dict.fromkeys(value))

    @field_validator("channel_modes", mode="before")
    @classmethod
    def _split_modes(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [p.strip().partition(":")[::2] for p in value.split(",") if p.strip()]
            modes: dict[str, str] = {}
            for channel, mode in pairs:
                channel, mode = channel.strip(), mode.strip()
                if modes.get(channel, mode) != mode:  # which one was meant cannot be told
                    raise ValueError(f"{channel!r} is given two modes, {modes[channel]} and {mode}")
                modes[channel] = mode
            value = modes
        return value

    @field_validator("channel_modes")
    @classmethod
    def _check_modes(cls, value: dict[str, str]) -> dict[str, str]:
        modes = {}
        for channel, mode in value.items():
            channel, mode = channel.strip(), mode.strip()
            if not CHANNEL_ID.match(channel) or mode not in CHANNEL_MODES:
                shown = f"{channel}:{mode}" if mode else channel
                raise ValueError(f"{shown!r}: expected CHANNEL_ID:all|mention|never, e.g. C0123ABCD:all")
            modes[channel] = mode
        return modes

    @model_validator(mode="after")
    def _room_to_answer(self) -> Settings:
        if self.max_new_tokens >= self.model_context_length:
            raise ValueError(
                f"SUPPORTBOT_MAX_NEW_TOKENS ({self.max_new_tokens}) must be less than "
                f"SUPPORTBOT_MODEL_CONTEXT_LENGTH ({self.model_context_length}): the prompt needs room"
            )
        return self

    @model_validator(mode="after")
    def _enough_check_questions(self) -> Settings:
        if self.model_check_min_answers > self.model_check_questions:
            # the check could never count: every model would stay unearned however faithful
            raise ValueError(
                f"SUPPORTBOT_MODEL_CHECK_MIN_ANSWERS ({self.model_check_min_answers}) must not exceed "
                f"SUPPORTBOT_MODEL_CHECK_QUESTIONS ({self.model_check_questions}), the questions it asks"
            )
        return self

    @model_validator(mode="after")
    def _embedding_backend(self) -> Settings:
        backend = "SUPPORTBOT_EMBEDDING_BACKEND"
        if self.embedding_backend == "openai":
            if self.embedding_url is None:
                raise ValueError(
                    f"{backend}=openai needs SUPPORTBOT_EMBEDDING_URL, the embedding server "
                    "(e.g. http://ollama:11434/v1)"
                )
            if self.embedding_model is None:
                raise ValueError(
                    f"{backend}=openai needs SUPPORTBOT_EMBEDDING_MODEL, the model name the server "
                    "serves (e.g. nomic-embed-text)"
                )
            if self.embedding_model_path is not None:
                raise ValueError(
                    f"SUPPORTBOT_EMBEDDING_MODEL_PATH is a local folder, for {backend}=sentence-transformers; "
                    "unset one of the two"
                )
            if self.embedding_prompt_name is not None:
                raise ValueError(
                    f"SUPPORTBOT_EMBEDDING_PROMPT_NAME names a prompt of a local folder, for "
                    f"{backend}=sentence-transformers; the server applies its own: unset it"
                )
        else:
            for name in ("embedding_url", "embedding_model"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{env_name(name)} is set, but {backend} is sentence-transformers: set "
                        f"{backend}=openai to use the embedding server, or unset {env_name(name)}"
                    )
        return self

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


SECRET_FIELDS = frozenset(
    name for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)
)


def env_name(field: str) -> str:
    return f"SUPPORTBOT_{field.upper()}"


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per bad setting: its variable, what is allowed, and (unless it may hold a secret or
    credentials) the value given."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        message = error["msg"].removeprefix("Value error, ")
        if not loc:  # a rule across settings; its message names them
            lines.append(message)
            continue
        field = str(loc[0])
        where = env_name(field) + "".join(f" item {i + 1}" if isinstance(i, int) else "" for i in loc[1:])
        value = error.get("input")
        shown = ""
        if (
            field not in SECRET_FIELDS
            and not field.endswith("_url")
            and isinstance(value, str | int | float)
            and error["type"] != "missing"
        ):
            text = str(value)
            shown = f" (got {text[:80]!r}{'...' if len(text) > 80 else ''})"
        lines.append(f"{where}: {message}{shown}")
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
