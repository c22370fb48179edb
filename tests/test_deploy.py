"""The deployment files in deploy/ say what the product understands: every LOYALTY_* variable
they set is a setting of bot/config.py and its value is valid there; every command is a real
``loyalty-bot`` command and every role a real role; the proxy sends to exactly the web
services and passes the web chat's WebSocket upgrade and the client's address; the image's
health check answers 0 from a serving process and not from a stopped one; the systemd units
pass ``systemd-analyze verify``. Nothing here builds the image or starts compose (no Docker
daemon in the tests)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from aiohttp import web
from pydantic import BaseModel

from bot.app import Application
from bot.channels.web import COOKIE
from bot.cli import parser
from bot.config import Settings
from bot.roles import Role
from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INTERPOLATED = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")  # ${NAME}, ${NAME:?message}


# --- reading the files -------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose and systemd read them: # comments, a value's outer quotes
    taken off."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key] = value
    return values


def interpolated(value: str, variables: dict[str, str]) -> str:
    return INTERPOLATED.sub(lambda match: variables[match.group(1)], value)


def bot_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items()
            if service.get("image") == "loyalty-bot"}


def role_of(service: dict[str, Any]) -> Role | None:
    args = parser().parse_args(service["command"][1:])
    return args.role if args.command == "run" else None


def web_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in bot_services().items() if role_of(service) is Role.WEB}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continued lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def image_environment() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for arguments in instructions("ENV"):
        pairs |= dict(re.findall(r"(\w+)=(\S+)", arguments))
    return pairs


def nginx() -> str:
    return re.sub(r"#.*", "", (DEPLOY / "nginx.conf").read_text())


def upstreams() -> dict[str, set[str]]:
    return {name: set(re.findall(r"^\s*server\s+(\S+?)[\s;]", body, re.MULTILINE))
            for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", nginx(), re.DOTALL)}


def locations() -> dict[str, str]:
    return {path.strip(): body for path, body in
            re.findall(r"location\s+([^{]+?)\s*\{(.*?)\}", nginx(), re.DOTALL)}


# --- settings ----------------------------------------------------------------------------------

def names_a_setting(variable: str) -> bool:
    """LOYALTY_WEB__PORT names Settings.web.port; a section's own keys only."""
    model: type[BaseModel] = Settings
    *sections, key = variable.removeprefix("LOYALTY_").lower().split("__")
    for section in sections:
        field = model.model_fields.get(section)
        nested = [t for t in (get_args(field.annotation) or (field.annotation,))
                  if isinstance(t, type) and issubclass(t, BaseModel)] if field else []
        if not nested:
            return False
        model = nested[0]
    return key in model.model_fields


def test_the_check_of_variable_names_can_fail():
    assert names_a_setting("LOYALTY_WEB__PORT") and names_a_setting("LOYALTY_ADMINS")
    assert names_a_setting("LOYALTY_WHATSAPP__APP_SECRET")
    assert not names_a_setting("LOYALTY_WEB__PROT")
    assert not names_a_setting("LOYALTY_DATABASE_URL")
    assert not names_a_setting("LOYALTY_ADMINS__X")


def compose_variables() -> dict[str, str]:
    """What the bot's containers get: the env file's variables, then each service's own."""
    example = env_file(DEPLOY / "env.example")
    variables = dict(example)
    for service in bot_services().values():
        variables |= {key: interpolated(str(value), example)
                      for key, value in (service.get("environment") or {}).items()}
    return variables


def test_every_loyalty_variable_of_compose_and_the_env_example_is_a_setting():
    variables = [name for name in compose_variables() if name.startswith("LOYALTY_")]
    assert "LOYALTY_DATABASE__URL" in variables and "LOYALTY_CARD__SECRET" in variables
    assert [name for name in variables if not names_a_setting(name)] == []


def test_the_values_they_set_are_valid_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no ./config.toml
    for name in [name for name in os.environ if name.startswith("LOYALTY_")]:
        monkeypatch.delenv(name)
    commented = {line.lstrip("# ").split("=", 1)[0]: line.lstrip("# ").split("=", 1)[1]
                 for line in (DEPLOY / "env.example").read_text().splitlines()
                 if re.match(r"#\s*LOYALTY_\w+=", line)}  # the optional ones, switched on
    for name, value in (commented | compose_variables()).items():
        if name.startswith("LOYALTY_"):
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.database.url.startswith("postgresql+asyncpg://loyalty:change-me@postgres:5432/")
    assert settings.admins == ["telegram:123456789"]
    assert settings.telegram.mode == "webhook" and settings.whatsapp is not None
    assert settings.web.host == "0.0.0.0"


def test_compose_never_writes_a_secret_into_the_file():
    for service in services().values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|TOKEN|PASSWORD", key):
                assert INTERPOLATED.fullmatch(str(value)), f"{key} is written in compose.yaml"
    assert ".env" in (service.get("env_file") for service in bot_services().values())


# --- processes and roles -----------------------------------------------------------------------

def test_compose_runs_two_web_processes_and_one_worker_after_a_one_shot_migration():
    bot = bot_services()
    roles = sorted(str(role_of(service)) for service in bot.values() if role_of(service))
    assert roles == ["web", "web", "worker"]
    [migrate] = [name for name, service in bot.items() if service["command"][1:] == ["db", "upgrade"]]
    for name, service in bot.items():
        assert service["command"][0] == "loyalty-bot"
        parser().parse_args(service["command"][1:])  # a real command, or SystemExit
        if name != migrate:
            assert service["depends_on"][migrate] == {"condition": "service_completed_successfully"}
            assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert bot[migrate]["restart"] == "no"
    assert "pg_isready" in " ".join(services()["postgres"]["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data")
               for volume in services()["postgres"]["volumes"])


def test_every_running_process_has_a_health_check_and_the_one_shot_migration_none():
    for service in bot_services().values():
        runs = role_of(service) is not None  # web and worker processes all serve /healthz
        assert service.get("healthcheck", {}).get("disable", False) is not runs


def test_the_proxy_sends_to_exactly_the_web_services_in_both_upstreams():
    port = compose_variables()["LOYALTY_WEB__PORT"]
    expected = {f"{name}:{port}" for name in web_services()}
    assert len(expected) == 2
    assert upstreams() == {"loyalty_web": expected, "loyalty_web_chat": expected}
    proxy = services()["proxy"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert set(proxy["depends_on"]) == set(web_services())


def test_the_proxy_passes_the_web_chat_socket_upgrade_and_the_client_address():
    found = locations()
    socket = found["= /web/ws"]
    assert "proxy_pass http://loyalty_web_chat;" in socket
    assert "proxy_http_version 1.1;" in socket
    assert "proxy_set_header Upgrade $http_upgrade;" in socket
    assert "proxy_set_header Connection $connection_upgrade;" in socket
    assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade", nginx())
    # a location's own proxy_set_header replaces the server's: each one sets them all
    for path, body in found.items():
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body, path
        assert "proxy_set_header Host $host;" in body, path
    assert f"hash $cookie_{COOKIE} consistent;" in nginx()


def test_the_web_chat_paths_the_proxy_names_are_the_ones_the_app_serves(app: Application):
    routes = {resource.canonical for resource in app.web.router.resources()}
    assert {"/", "/web/ws", "/web/static", "/web/download/{token}"} <= routes
    assert {"= /web/ws", "= /", "/web/", "/"} == set(locations())


# --- the image ---------------------------------------------------------------------------------

def test_the_image_installs_the_lock_with_hashes_compiles_the_translations_and_runs_as_a_user():
    [base] = instructions("FROM")
    assert base == "python:3.11-slim"
    runs = " ".join(instructions("RUN"))
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert "pybabel compile -d locales -D messages" in runs
    for copied in instructions("COPY"):
        *sources, _target = copied.split()
        assert all((ROOT / source).exists() for source in sources), copied
    [user] = instructions("USER")
    assert user not in ("root", "0")
    assert instructions("EXPOSE") == [image_environment()["LOYALTY_WEB__PORT"]]


def test_the_image_runs_the_projects_entry_point_as_all_by_default():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [command] = instructions("CMD")
    program, *arguments = json.loads(command)
    assert program in scripts
    assert parser().parse_args(arguments).role is Role.ALL
    assert image_environment()["LOYALTY_WEB__HOST"] == "0.0.0.0"


def health_check() -> list[str]:
    [check] = instructions("HEALTHCHECK")
    command = json.loads(check.split("CMD", 1)[1])
    assert command[0] == "python"  # slim has no curl
    return [sys.executable, *command[1:]]


async def run_check(port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        *health_check(), env={**os.environ, "LOYALTY_WEB__PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_image_health_check_passes_while_the_app_serves_and_fails_once_it_stops(
        app: Application):
    port = free_port()
    runner = web.AppRunner(app.web)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        assert await run_check(port) == 0
    finally:
        await runner.cleanup()
    assert await run_check(port) != 0


# --- systemd -----------------------------------------------------------------------------------

def unit(name: str) -> dict[str, list[str]]:
    """KEY -> its values, over every section."""
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_the_template_runs_the_role_its_instance_names_after_the_migration():
    template = unit("loyalty-bot@.service")
    assert template["Environment"] == ["ROLE=%i"]
    assert template["EnvironmentFile"] == ["/etc/loyalty-bot/env", "-/etc/loyalty-bot/%i.env"]
    [start] = template["ExecStart"]
    program, *arguments = start.split()
    assert Path(program).name == "loyalty-bot"
    assert arguments == ["run", "--role", "${ROLE}"]
    for instance in ("web", "worker", "all"):  # the instances its comment offers
        assert parser().parse_args(["run", "--role", instance]).role is Role(instance)
    assert template["Requires"] == ["loyalty-bot-migrate.service"]
    assert "loyalty-bot-migrate.service" in template["After"][0]
    [migrate] = unit("loyalty-bot-migrate.service")["ExecStart"]
    assert migrate.split()[1:] == ["db", "upgrade"]
    assert unit("loyalty-bot-migrate.service")["Type"] == ["oneshot"]


def test_the_template_stops_gracefully_restarts_on_failure_and_runs_confined():
    template = unit("loyalty-bot@.service")
    assert template["KillSignal"] == ["SIGTERM"] and template["Restart"] == ["on-failure"]
    assert int(template["TimeoutStopSec"][0]) >= 60  # the drain's 10 s, the outbox's batch
    assert template["User"] != ["root"] and template["NoNewPrivileges"] == ["yes"]
    assert template["ProtectSystem"] == ["strict"]
    assert template["WorkingDirectory"] == template["ReadWritePaths"]  # a SQLite file can live there


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    # verify checks that ExecStart's program exists: point it at this checkout's interpreter
    for path in UNITS.iterdir():
        text = re.sub(r"/opt/loyalty-bot/\.venv/bin/loyalty-bot", sys.executable, path.read_text())
        (tmp_path / path.name).write_text(text)
    found = subprocess.run(
        ["systemd-analyze", "verify", "loyalty-bot@web.service", "loyalty-bot-migrate.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert (found.returncode, found.stdout + found.stderr) == (0, "")
