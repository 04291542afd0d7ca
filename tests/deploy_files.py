"""Reading the deployment files as Docker and Compose do, for tests on a machine without a Docker engine."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?]([^{}]*))?\}")


def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text()


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR:-default} interpolation (innermost first) and its $$ escape."""
    env = env or {}
    previous = None
    while previous != text:
        previous = text
        text = VARIABLE.sub(lambda m: env.get(m.group(1)) or m.group(2) or "", text)
    return text.replace("$$", "$")


def compose(env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate(compose_text(), env))


def compose_variables() -> set[str]:
    """Every ${VARIABLE} the compose file interpolates, nested ones included."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_text()))


def env_example() -> dict[str, str]:
    """NAME -> value of every variable .env.example sets or shows commented out."""
    found = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def dockerfile() -> list[tuple[str, str, str]]:
    """(stage, INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue  # Docker drops comment lines, also inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    out, stage = [], ""
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else args
        out.append((stage, keyword, args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """["a", "b"] (exec form) or a shell string."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


COMMAND_POSITION = re.compile(
    r"(?:^|&&|\|\||;|\bthen\b|\belse\b|\$\()\s*(?:[A-Z_][A-Z0-9_]*=\S+\s+)*supportbot\b((?:[ \t]+[\w./=:-]+)*)"
)


def supportbot_invocations(shell: str) -> list[list[str]]:
    """The argument lists of every `supportbot ...` run as a command in a shell command line."""
    return [m.group(1).split() for m in COMMAND_POSITION.finditer(shell)]
