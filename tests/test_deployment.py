"""docker-compose.yml / Dockerfile agree with the code they deploy.

No Docker engine is needed: the compose file is parsed as YAML and checked against what
`claimflow.settings.Settings` reads and what `claimflow.cli` accepts, both derived from the
code, so renaming a setting or a subcommand breaks this test instead of the deployment.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices, SecretStr

import claimflow.cli
import claimflow.runtime
from claimflow.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

CLAIMFLOW_SERVICES = ("api", "worker", "migrate")
EXPECTED_SERVICES = {"temporal", "temporal-ui", "db", *CLAIMFLOW_SERVICES}


# --- what the code reads / accepts ------------------------------------------------------


def env_names(field_name: str) -> list[str]:
    """The environment variables Settings reads for one field, preferred first."""
    field = Settings.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str)]
    if isinstance(alias, str):
        return [alias]
    return [f"{Settings.model_config.get('env_prefix', '')}{field_name}".upper()]


def all_env_names() -> set[str]:
    return {name for field in Settings.model_fields for name in env_names(field)}


def _guarded_fields(tree: ast.AST) -> set[str]:
    """Settings fields a piece of code refuses to run without.

    Recognises `_require(settings.X, ...)` and `if not settings.X: raise ...`.
    """
    fields: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "_require"
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "settings"
        ):
            fields.add(node.args[0].attr)
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.UnaryOp)
            and isinstance(node.test.op, ast.Not)
            and isinstance(node.test.operand, ast.Attribute)
            and isinstance(node.test.operand.value, ast.Name)
            and node.test.operand.value.id == "settings"
            and any(isinstance(stmt, ast.Raise) for stmt in node.body)
        ):
            fields.add(node.test.operand.attr)
    return fields


def required_fields_by_command() -> dict[str, set[str]]:
    """For each `claimflow` subcommand, the None-by-default settings it cannot run without.

    Read from the `args.command == "..."` branches of `claimflow.cli.main`, following calls
    into `claimflow.runtime` one level (e.g. `run_worker` checks DATABASE_URL itself).
    """
    main = ast.parse(inspect.getsource(claimflow.cli.main))
    required: dict[str, set[str]] = {}
    for node in ast.walk(main):
        if not (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Attribute)
            and node.test.left.attr == "command"
            and isinstance(node.test.comparators[0], ast.Constant)
        ):
            continue
        command = node.test.comparators[0].value
        branch = ast.Module(body=node.body, type_ignores=[])
        fields = _guarded_fields(branch)
        for call in ast.walk(branch):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                target = getattr(claimflow.runtime, call.func.id, None)
                if inspect.isfunction(target) and target.__module__ == claimflow.runtime.__name__:
                    fields |= _guarded_fields(ast.parse(inspect.getsource(target)))
        required[command] = {f for f in fields if Settings.model_fields[f].default is None}
    return required


def required_env_by_command() -> dict[str, set[str]]:
    return {
        cmd: {env_names(field)[0] for field in fields}
        for cmd, fields in required_fields_by_command().items()
    }


def cli_subcommands() -> set[str]:
    source = Path(claimflow.cli.__file__).read_text()
    return set(re.findall(r"""\.add_parser\(\s*["']([^"']+)["']""", source))


def console_script() -> str:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [name] = [name for name, target in scripts.items() if target == "claimflow.cli:main"]
    return name


# --- what the deployment says -----------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def service_env(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def service_command(compose: dict, service: str) -> list[str]:
    command = compose["services"][service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def container_ports(compose: dict, service: str) -> set[int]:
    ports: set[int] = set()
    for entry in compose["services"][service].get("ports", []) or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    for entry in compose["services"][service].get("expose", []) or []:
        ports.add(int(str(entry).split("/")[0]))
    return ports


def depends_on(compose: dict, service: str) -> dict[str, str]:
    deps = compose["services"][service].get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


# --- tests ------------------------------------------------------------------------------


def test_compose_defines_the_services(compose: dict) -> None:
    assert EXPECTED_SERVICES <= set(compose["services"])


def test_required_settings_are_derived_from_the_code() -> None:
    # Guards the derivation itself: if it silently found nothing, the env check below
    # would pass vacuously.
    required = required_env_by_command()
    assert set(CLAIMFLOW_SERVICES) <= set(required)
    assert {"TEMPORAL_ADDRESS", "DATABASE_URL"} <= required["api"]
    assert {"TEMPORAL_ADDRESS", "DATABASE_URL"} <= required["worker"]
    assert "DATABASE_URL" in required["migrate"]


@pytest.mark.parametrize("service", CLAIMFLOW_SERVICES)
def test_claimflow_service_sets_what_its_command_requires(compose: dict, service: str) -> None:
    command = service_command(compose, service)[1]
    env = service_env(compose, service)
    missing = {name for name in required_env_by_command()[command] if not env.get(name)}
    assert not missing, f"{service} ({command}) does not set {sorted(missing)}"


@pytest.mark.parametrize("service", CLAIMFLOW_SERVICES)
def test_claimflow_service_sets_only_variables_settings_reads(compose: dict, service: str) -> None:
    unknown = set(service_env(compose, service)) - all_env_names()
    assert not unknown, f"{service} sets {sorted(unknown)}, which Settings does not read"


@pytest.mark.parametrize("service", CLAIMFLOW_SERVICES)
def test_claimflow_service_env_validates(
    compose: dict, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in all_env_names():
        monkeypatch.delenv(name, raising=False)
    env = service_env(compose, service)
    for name, value in env.items():
        monkeypatch.setenv(name, value or "")
    settings = Settings()  # raises on values of the wrong type, e.g. a bad log format
    command = service_command(compose, service)[1]
    for field in required_fields_by_command()[command]:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        assert value == env[env_names(field)[0]]


@pytest.mark.parametrize("service", ["api", "worker", "temporal-ui"])
def test_temporal_address_points_at_the_temporal_service(compose: dict, service: str) -> None:
    address = service_env(compose, service)["TEMPORAL_ADDRESS"]
    host, _, port = address.rpartition(":")
    assert host == "temporal" and "temporal" in compose["services"]
    assert int(port) in container_ports(compose, "temporal")


@pytest.mark.parametrize("service", CLAIMFLOW_SERVICES)
def test_database_url_points_at_the_db_service(compose: dict, service: str) -> None:
    url = urlsplit(service_env(compose, service)["DATABASE_URL"])
    assert url.scheme in {"postgresql", "postgres"}
    assert url.hostname == "db"
    assert (url.port or 5432) == 5432  # the postgres image listens on its default port
    db_env = service_env(compose, "db")
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == db_env.get("POSTGRES_DB", db_env["POSTGRES_USER"])


@pytest.mark.parametrize("service", CLAIMFLOW_SERVICES)
def test_command_is_a_real_claimflow_subcommand(
    compose: dict, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = service_command(compose, service)
    assert argv[0] == console_script()
    assert argv[1] in cli_subcommands()

    # The whole argv, options included, must get through claimflow's own argument parser:
    # stop main() right after parse_args, at the first thing it does next.
    class Parsed(Exception):
        pass

    def stop() -> None:
        raise Parsed

    monkeypatch.setattr(claimflow.cli, "get_settings", stop)
    with pytest.raises(Parsed):
        claimflow.cli.main(argv[1:])


def test_start_order(compose: dict) -> None:
    assert depends_on(compose, "migrate") == {"db": "service_healthy"}
    for service in ("api", "worker"):
        deps = depends_on(compose, service)
        assert deps["migrate"] == "service_completed_successfully"
        assert deps["temporal"] == "service_healthy"
    assert depends_on(compose, "temporal")["temporal-db"] == "service_healthy"
    assert str(compose["services"]["migrate"].get("restart")) == "no"
    for service in ("temporal", "temporal-db", "db", "api"):
        assert "healthcheck" in compose["services"][service], service


def test_api_healthcheck_uses_readiness(compose: dict) -> None:
    from api.routes.health import router

    assert "/readyz" in {route.path for route in router.routes}
    test = compose["services"]["api"]["healthcheck"]["test"]
    assert "/readyz" in (test if isinstance(test, str) else " ".join(test))


def test_worker_scales(compose: dict) -> None:
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert not worker.get("ports"), "published ports would collide with --scale worker=N"
    assert not worker.get("container_name"), "a fixed name prevents --scale worker=N"


def test_dockerfile_installs_and_runs_the_console_script() -> None:
    text = DOCKERFILE.read_text()
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    assert re.search(r"^RUN pip install [^\n]*\.(\s|$)", text, re.MULTILINE)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    [cmd] = [ln for ln in lines if ln.startswith("CMD ")]
    argv = yaml.safe_load(cmd.removeprefix("CMD "))  # JSON exec form is valid YAML
    assert argv[0] == console_script()
    assert argv[1] in cli_subcommands()


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {ln.strip().removeprefix("**/") for ln in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".data", "__pycache__", ".git", ".pytest_cache", ".hypothesis"} <= ignored
