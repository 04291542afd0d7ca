"""docker-compose.yml and .env.example, checked statically (no Docker engine here), and the health
check probes run for real against the servers they probe."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from typer.main import get_command

from bot.cli import app
from bot.settings import Settings

from .deploy_files import (
    ROOT,
    compose,
    compose_variables,
    dockerfile,
    env_example,
    exec_form,
    interpolate,
    supportbot_invocations,
)

SETTINGS = {f"SUPPORTBOT_{name.upper()}" for name in Settings.model_fields}
LONG_RUNNING = {"postgres", "chroma", "bot", "worker", "llm"}


def test_services_health_checks_and_start_order():
    services = compose()["services"]
    assert set(services) == LONG_RUNNING | {"setup"}
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        assert check["test"] and check["interval"] and check["retries"], name
    for name in ("bot", "worker"):
        after = services[name]["depends_on"]
        assert after["setup"]["condition"] == "service_completed_successfully", name  # migrated first
        assert after["postgres"]["condition"] == after["chroma"]["condition"] == "service_healthy", name
    setup = services["setup"]
    assert setup["restart"] == "no"
    assert {d["condition"] for d in setup["depends_on"].values()} == {"service_healthy"}
    steps = supportbot_invocations(setup["command"][0])
    assert steps[0] == ["db", "upgrade"] and ["model", "install"] in steps  # migrations before anything else
    assert services["llm"]["profiles"] == ["openai"]
    assert all("profiles" not in s for n, s in services.items() if n != "llm")


def test_bot_transport_defaults_to_socket_mode_and_http_is_a_setting():
    services = compose()["services"]
    assert services["bot"]["command"] == ["serve"]  # no --http: SUPPORTBOT_SLACK_TRANSPORT decides
    assert Settings().slack_transport == "socket"
    assert services["bot"]["ports"] == ["127.0.0.1::3000"]  # unset: a free local port, no clash
    published = compose({"HTTP_PUBLISH": "3000:3000"})["services"]["bot"]["ports"]
    assert published == ["3000:3000"] and Settings().http_port == 3000


def test_volumes_are_declared_and_model_versions_are_shared():
    spec = compose()
    declared = set(spec["volumes"])
    mounts = {}
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            assert source.startswith(("/", ".")) or source in declared, f"{name}: undeclared volume {source}"
            mounts.setdefault(source, {})[name] = target
    assert mounts["pgdata"] == {"postgres": "/var/lib/postgresql/data"}
    assert mounts["chroma-data"] == {"chroma": "/data"}
    # One volume at the same path everywhere: a model version's path in SQL is valid in every container.
    assert mounts["supportbot-data"] == {"setup": "/data", "bot": "/data", "worker": "/data", "llm": "/data"}
    assert all(
        spec["services"][s]["environment"]["SUPPORTBOT_DATA_DIR"] == "/data"
        for s in ("setup", "bot", "worker")
    )
    model = spec["services"]["llm"]["command"]
    assert model[model.index("--model") + 1] == "/data/models/bundled-model.gguf"
    assert "/data/models/bundled-model.gguf" in spec["services"]["setup"]["command"][0]  # setup puts it there


def test_the_engines_are_the_ones_the_clients_speak_to():
    spec = compose()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    chroma_client = next(d for d in deps if d.startswith("chromadb"))
    assert chroma_client == "chromadb>=1.5,<1.6"
    assert re.fullmatch(r"chromadb/chroma:1\.5\.\d+", spec["services"]["chroma"]["image"])
    env = spec["services"]["bot"]["environment"]
    assert env["SUPPORTBOT_CHROMA_URL"] == "http://chroma:8000"
    assert (
        env["SUPPORTBOT_DATABASE_URL"]
        == "postgresql+psycopg://supportbot:supportbot@postgres:5432/supportbot"
    )
    overridden = compose(
        {"SUPPORTBOT_DATABASE_URL": "postgresql+psycopg://u@db.internal/bot", "POSTGRES_PASSWORD": "s3"}
    )
    assert (
        overridden["services"]["bot"]["environment"]["SUPPORTBOT_DATABASE_URL"]
        == "postgresql+psycopg://u@db.internal/bot"
    )
    assert (
        compose({"POSTGRES_PASSWORD": "s3"})["services"]["worker"]["environment"]["SUPPORTBOT_DATABASE_URL"]
        == "postgresql+psycopg://supportbot:s3@postgres:5432/supportbot"
    )


def test_every_supportbot_variable_is_a_real_setting():
    spec = compose()
    used = set(compose_variables()) | set(env_example())
    for service in spec["services"].values():
        used |= set(service.get("environment") or {})
    for _stage, keyword, args in dockerfile():
        if keyword == "ENV":
            used |= set(re.findall(r"(SUPPORTBOT_[A-Z0-9_]+)=", args))
    unknown = sorted(v for v in used if v.startswith("SUPPORTBOT_") and v not in SETTINGS)
    assert unknown == []


def test_env_example_documents_every_setting_and_every_compose_variable():
    documented = env_example()
    assert sorted(SETTINGS - set(documented)) == []
    assert sorted(compose_variables() - set(documented)) == []
    Settings(_env_file=ROOT / ".env.example")  # and it parses as it stands


def _cli_accepts(args: list[str]) -> None:
    """Resolve ARGS through the real Typer app as `supportbot ARGS` would, without running it."""
    command = get_command(app)  # Typer's own click: duck-typed, a group has .commands
    path = ["supportbot"]
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command = command.commands[args[0]]
        path.append(args.pop(0))
    assert not hasattr(command, "commands"), f"{' '.join(path + args[:1])}: no such command"
    command.make_context(" ".join(path), list(args))  # unknown options and missing arguments raise


def _compose_invocations() -> list[list[str]]:
    calls = []
    for service in compose()["services"].values():
        if service.get("image") != "supportbot:local":
            continue
        if service.get("entrypoint") == ["sh", "-c"]:
            calls += supportbot_invocations(service["command"][0])
        else:  # the image's ENTRYPOINT is supportbot
            calls.append(list(service["command"]))
        test = service["healthcheck"]["test"] if "healthcheck" in service else []
        if test[:2] == ["CMD", "supportbot"]:
            calls.append(test[2:])
    return calls


def _dockerfile_invocations() -> list[list[str]]:
    calls, entrypoint, cmd = [], None, None
    for stage, keyword, args in dockerfile():
        if stage == "runtime" and keyword == "RUN":
            calls += supportbot_invocations(args)
        if keyword == "ENTRYPOINT":
            entrypoint = exec_form(args)
        if keyword == "CMD":
            cmd = exec_form(args)
    assert entrypoint == ["supportbot"]
    return calls + [cmd]


def test_every_supportbot_command_in_compose_and_the_image_exists():
    calls = _compose_invocations() + _dockerfile_invocations()
    assert ["serve"] in calls and ["worker"] in calls and ["healthcheck", "--worker"] in calls
    for args in calls:
        _cli_accepts(list(args))
    with pytest.raises(Exception, match="No such option"):  # the check itself catches a wrong option
        _cli_accepts(["healthcheck", "--bogus"])
    with pytest.raises(AssertionError, match="no such command"):
        _cli_accepts(["model", "instal"])


def test_chroma_health_check_probes_a_real_chroma_server(chroma_server):
    test = compose()["services"]["chroma"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "/bin/bash", "-c"]
    port = chroma_server.rsplit(":", 1)[1]
    probe = test[3].replace("/127.0.0.1/8000", f"/127.0.0.1/{port}")
    assert subprocess.run(["bash", "-c", probe], timeout=10).returncode == 0
    wrong_path = probe.replace("/api/v2/heartbeat", "/api/v2/nonexistent")
    assert subprocess.run(["bash", "-c", wrong_path], timeout=10).returncode != 0


def test_chroma_health_check_fails_when_nothing_listens():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        probe = compose()["services"]["chroma"]["healthcheck"]["test"][3].replace("/8000", f"/{port}")
        assert subprocess.run(["bash", "-c", probe], timeout=10, capture_output=True).returncode != 0


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


def test_bots_get_time_to_drain_before_docker_kills_them():
    """`serve --http` drains answers in progress on SIGTERM; Docker SIGKILLs after stop_grace_period
    (10 s unless set), so the bot's must cover the drain with room for the process to exit."""
    grace = _seconds(compose()["services"]["bot"]["stop_grace_period"])
    drain = getattr(Settings(), "drain_timeout_s", 25.0)
    assert grace >= drain + 10


OFFLINE = ROOT / "docker" / "compose.offline.yml"


def offline(env: dict[str, str] | None = None) -> dict:
    import yaml

    return yaml.safe_load(
        interpolate(OFFLINE.read_text(), {"TORCH_INDEX_URL": "http://127.0.0.1:1/", **(env or {})})
    )


def test_official_images_stay_the_defaults():
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["chroma"]["image"].startswith("chromadb/chroma:")
    assert services["llm"]["image"] == "ghcr.io/ggml-org/llama.cpp:server"
    assert {services[s]["image"] for s in ("setup", "bot", "worker")} == {"supportbot:local"}
    assert all(services[s]["build"] == "." for s in ("setup", "bot", "worker"))


def test_offline_override_only_says_where_images_and_wheels_come_from():
    """docker/compose.offline.yml (used by make compose-check) changes images and build inputs,
    never behaviour: no environment, command, volume, port or health check of its own."""
    base, over = compose()["services"], offline()["services"]
    assert set(over) <= set(base)
    for name, service in over.items():
        assert set(service) <= {"image", "build"}, name
    declared = {a.split("=", 1)[0] for _s, k, a in dockerfile() if k == "ARG"}
    for name in ("setup", "bot", "worker"):
        build = over[name]["build"]
        assert build["context"] == "." and build["network"] == "host"
        assert set(build["args"]) <= declared  # every build argument is one the Dockerfile reads
        assert build["secrets"] == ["pip_cert"]
        assert over[name]["image"] == "supportbot:local"
    assert "id=pip_cert" in (ROOT / "Dockerfile").read_text()
    assert offline()["secrets"]["pip_cert"]["file"].startswith("/")
    # Each stand-in it names is built by docker/standins/base.sh from a Dockerfile there.
    base_sh = (ROOT / "docker" / "standins" / "base.sh").read_text()
    images = [
        over["postgres"]["image"],
        over["chroma"]["image"],
        over["bot"]["build"]["args"]["PYTHON_IMAGE"],
    ]
    for image in images:
        assert image.startswith("supportbot-standin/")
        line = next(ln for ln in base_sh.splitlines() if ln.startswith(f"build {image} "))
        assert (ROOT / "docker" / "standins" / line.split()[2]).is_file()
    for path in (ROOT / "docker" / "standins").glob("*Dockerfile"):
        assert not re.search(r"^#\s*syntax\s*=", path.read_text(), re.M)
