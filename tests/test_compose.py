"""docker-compose.yml, checked statically (no Docker engine here)."""

import re

import yaml

from bot.settings import Settings

from .conftest import ROOT


def test_compose_services_and_settings_are_real():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "ask"} <= set(services)
    assert services["postgres"]["healthcheck"]["test"]
    assert services["ask"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    known = {f"SUPPORTBOT_{name.upper()}" for name in Settings.model_fields}
    for name, svc in services.items():
        for var in svc.get("environment", {}):
            if var.startswith("SUPPORTBOT_"):
                assert var in known, f"{name}: {var} is not a setting"
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            assert source.startswith(("/", ".")) or source in spec["volumes"], f"{name}: undeclared volume {source}"


def test_compose_commands_exist_in_the_cli():
    from typer.main import get_command

    from bot.cli import app

    cli = get_command(app)
    command = " ".join(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["ask"]["command"])
    for invocation in re.findall(r"supportbot ([a-z]+(?: [a-z]+)?)", command):
        words = invocation.split()
        group = cli.commands[words[0]]
        if len(words) > 1 and hasattr(group, "commands"):
            assert words[1] in group.commands, invocation
