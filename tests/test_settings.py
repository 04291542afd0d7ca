from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, describe_errors


def test_defaults_put_everything_in_the_data_dir(tmp_path):
    s = Settings()
    assert s.data_dir == Path("data")
    assert s.resolved_database_url == f"sqlite:///{(Path('data') / 'supportbot.db').resolve()}"
    assert s.resolved_chroma_path == Path("data") / "chroma"
    assert s.models_dir == Path("data") / "models"
    assert s.chroma_url is None and s.model_path is None


def test_env_vars_with_prefix_and_lists(monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", "/srv/bot")
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "postgresql+psycopg://u@db/bot")
    monkeypatch.setenv("SUPPORTBOT_ADMIN_USERS", "U123, U456 ,")
    monkeypatch.setenv("SUPPORTBOT_SLACK_BOT_TOKEN", "xoxb-secret")
    s = Settings()
    assert s.data_dir == Path("/srv/bot")
    assert s.resolved_database_url == "postgresql+psycopg://u@db/bot"
    assert s.admin_users == ["U123", "U456"]
    assert "xoxb-secret" not in repr(s)  # secrets never end up in logs via repr
    assert s.slack_bot_token.get_secret_value() == "xoxb-secret"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(
        "SUPPORTBOT_CHROMA_URL=http://chroma:8000\nSUPPORTBOT_ABSTAIN_THRESHOLD=0.6\n"
    )
    s = Settings()
    assert s.chroma_url == "http://chroma:8000"
    assert s.abstain_threshold == 0.6


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [
        f"SUPPORTBOT_{name.upper()}"
        for name in Settings.model_fields
        if f"SUPPORTBOT_{name.upper()}" not in readme
    ]
    assert missing == []


def test_new_settings_and_their_defaults():
    s = Settings()
    assert s.drain_timeout_s == 25.0 and s.max_import_file_mb == 20


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DRAIN_TIMEOUT_S", "0"),
        ("DRAIN_TIMEOUT_S", "-1"),
        ("DRAIN_TIMEOUT_S", "inf"),
        ("HTTP_PORT", "0"),
        ("HTTP_PORT", "65536"),
        ("RETRIEVAL_TOP_K", "0"),
        ("MAX_QUESTION_CHARS", "not-a-number"),
        ("CHANNEL_MODES", "C123"),
        ("CHANNEL_MODES", "C123:sometimes"),
        ("CHANNEL_MODES", "C123:all,C456:never,C123:never"),  # two modes for one channel
        ("DATABASE_URL", "postgres://u@db/bot"),
        ("CHROMA_URL", "ftp://chroma"),
        ("HANDOFF_WEBHOOK_URL", "tickets.example/hook"),
        ("OPENAI_BASE_URL", "llm:8080"),
        ("SLACK_APP_TOKEN", "xoxb-swapped"),
        ("ADMIN_GROUP", "admins"),
        ("SUPPORT_CHANNEL", "support"),
        ("FINETUNE_LORA_TARGETS", "q proj"),
        ("FINETUNE_SEED", str(2**32)),
        ("FINETUNE_EVAL_SHARE", "1"),
        ("FINETUNE_REGRESSION_FILE", "/no/such.jsonl"),
        ("EMBEDDING_MODEL_PATH", "/no/such/dir"),
        ("EMBEDDING_MODEL_PATH", "/tmp"),  # a folder, but no model in it
        ("CHROMA_PATH", "/etc/hostname"),
        ("DATABASE_URL", "sqlite://"),  # in memory: every command would start empty
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("CHROMA_URL", "http://chroma:0"),  # a URL no request can reach
        ("SLACK_API_URL", "https://slack.example:0/api/"),
        ("METRICS_HOST", "999.1.1.1"),  # a mistyped address, not a host name
        ("METRICS_HOST", "10.0.0"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(f"SUPPORTBOT_{name}", value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    (line,) = describe_errors(exc.value)
    assert line.startswith(f"SUPPORTBOT_{name}: ")


def test_secrets_and_urls_are_never_repeated_in_errors(monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_SLACK_BOT_TOKEN", "xapp-very-secret")
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "mysql://u:hunter2@db/bot")
    with pytest.raises(ValidationError) as exc:
        Settings()
    text = "\n".join(describe_errors(exc.value))
    assert "very-secret" not in text and "hunter2" not in text
    assert "SUPPORTBOT_SLACK_BOT_TOKEN" in text and "SUPPORTBOT_DATABASE_URL" in text


def test_lenient_where_nothing_is_lost(monkeypatch):
    # Empty values (as .env.example has them) mean unset; log levels in any case; spaces around modes.
    monkeypatch.setenv("SUPPORTBOT_REVIEW_CHANNEL", "")
    monkeypatch.setenv("SUPPORTBOT_ADMIN_USERS", "")
    monkeypatch.setenv("SUPPORTBOT_LOG_LEVEL", "debug")
    monkeypatch.setenv("SUPPORTBOT_CHANNEL_MODES", " C123:all , C456 : never ,C123: all")
    s = Settings()
    assert s.review_channel is None and s.admin_users == [] and s.log_level == "DEBUG"
    assert s.channel_modes == {"C123": "all", "C456": "never"}
    assert s.channel_mode("C456") == "never" and s.channel_mode("C789") == "mention"


def test_a_model_check_that_could_never_count_is_refused(monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_MODEL_CHECK_QUESTIONS", "10")
    monkeypatch.setenv("SUPPORTBOT_MODEL_CHECK_MIN_ANSWERS", "20")
    with pytest.raises(ValidationError) as exc:
        Settings()
    (line,) = describe_errors(exc.value)
    assert (
        "SUPPORTBOT_MODEL_CHECK_MIN_ANSWERS (20) must not exceed SUPPORTBOT_MODEL_CHECK_QUESTIONS (10)"
        in line
    )
    monkeypatch.setenv("SUPPORTBOT_MODEL_CHECK_MIN_ANSWERS", "10")
    assert Settings().model_check_min_answers == 10
