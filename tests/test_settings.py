from pathlib import Path

from bot.settings import Settings


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
