"""The container deployment files, checked without a container engine: docker-compose.yml, Dockerfile, .env.example.

Commands are checked against the real CLI and the real process factories, so renaming a command or a
service breaks these tests instead of the deployment.
"""

import importlib
import os
import re
import shlex

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from typer.testing import CliRunner

from common.cli import app
from common.serve import FACTORIES
from common.settings import PROJECT_ROOT, Settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"

SERVICES = ("subsidy", "matching", "mynapoint")
CHIIKI_SERVICES = ("migrate", *SERVICES, "worker", "gateway")
TEST_SECRET = "t" * 40
TEST_MYKI_SECRET = "m" * 40

# Compose interpolation: $$ is a literal dollar; ${VAR}, ${VAR:-default}, ${VAR?error}, ... and bare $VAR.
VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<bare>\w+))")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables the way compose does, for the operators the files use."""

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in ("-", ":-"):
            return arg if unset else value
        if op in ("?", ":?"):
            if unset:
                raise ValueError(f"{name}: {arg}")
            return value
        if op in ("+", ":+"):
            return "" if unset else arg
        return value or ""

    return VARIABLE.sub(substitute, text)


def variables(text: str) -> set[str]:
    return {m["braced"] or m["bare"] for m in VARIABLE.finditer(text) if not m["escaped"]}


def load_compose(env: dict[str, str] | None = None) -> dict:
    env = {"CHIIKI_INTERNAL_SECRET": TEST_SECRET, "CHIIKI_MYKI_SECRET": TEST_MYKI_SECRET} if env is None else env
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    """{dependency: condition}, whichever form depends_on is written in."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def commands(command: str | list[str]) -> list[list[str]]:
    """The argv of every program a compose command or Dockerfile CMD runs (`sh -c "a && b"` runs two)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    if argv[:2] == ["sh", "-c"] and len(argv) == 3:
        return [shlex.split(part) for part in re.split(r"&&|;", argv[2]) if part.strip()]
    return [argv]


def assert_real_entry_point(argv: list[str]) -> None:
    assert argv and argv[0] == "chiiki", f"{argv}: the image's entry point is the chiiki command"
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"`{shlex.join(argv)}` is not a chiiki command:\n{result.output}"
    if argv[1:2] == ["service"]:
        assert len(argv) == 3 or (len(argv) == 5 and argv[3] == "--workers" and argv[4].isdigit()), (
            f"`{shlex.join(argv)}` must name exactly one process, and may give its number of workers"
        )
        name = argv[2]
        assert name in FACTORIES, f"`{shlex.join(argv)}`: no process {name!r} in common.serve.FACTORIES"
        module_name, _, function_name = FACTORIES[name].partition(":")
        assert callable(getattr(importlib.import_module(module_name), function_name))


def healthcheck_command(service: dict) -> str:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return shlex.join(test[1:]) if test[0] == "CMD" else test[1]


def default_port(name: str) -> int:
    return Settings.model_fields[f"{name}_port"].default


# --- docker-compose.yml -------------------------------------------------------------------------------------


def test_the_expected_services_exist(services):
    assert set(services) == {"postgres", *CHIIKI_SERVICES}


def test_only_the_gateway_is_published(services):
    assert [name for name, service in services.items() if service.get("ports")] == ["gateway"]
    assert [str(port) for port in services["gateway"]["ports"]] == [f"8000:{default_port('gateway')}"]


def test_postgres_has_a_healthcheck_and_a_declared_named_volume(compose, services):
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in healthcheck_command(postgres)
    sources = [str(volume).split(":", 1)[0] for volume in postgres.get("volumes", [])]
    named = [source for source in sources if source and not source.startswith((".", "/", "~"))]
    assert named, f"postgres keeps its data in a named volume, not {sources}"
    assert set(named) <= set(compose.get("volumes") or {}), "named volumes must be declared under top-level volumes"


def test_migrate_upgrades_then_loads_reference_data_once(services):
    migrate = services["migrate"]
    assert [argv[:3] for argv in commands(migrate["command"])] == [
        ["chiiki", "db", "upgrade"],
        ["chiiki", "data", "load"],
    ]
    raw = migrate["command"] if isinstance(migrate["command"], str) else " ".join(migrate["command"])
    assert re.search(r"chiiki db upgrade\s*&&", raw), "loading must not run when the upgrade fails"
    assert depends_on(migrate) == {"postgres": "service_healthy"}
    # Unquoted `no` is YAML for false; compose wants the string.
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("name", CHIIKI_SERVICES)
def test_every_command_is_a_real_entry_point(services, name):
    argvs = commands(services[name]["command"])
    assert argvs
    for argv in argvs:
        assert_real_entry_point(argv)


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_each_process_runs_itself(services, name):
    assert commands(services[name]["command"]) == [["chiiki", "service", name, "--workers", "1"]]


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_each_service_takes_its_number_of_workers_from_the_environment(name):
    setting = f"CHIIKI_{name.upper()}_WORKERS"
    env = {"CHIIKI_INTERNAL_SECRET": TEST_SECRET, "CHIIKI_MYKI_SECRET": TEST_MYKI_SECRET, setting: "3"}
    command = load_compose(env)["services"][name]["command"]
    assert commands(command) == [["chiiki", "service", name, "--workers", "3"]]


@pytest.mark.parametrize("name", SERVICES)
def test_services_start_after_migrations_and_report_readiness(services, name):
    service = services[name]
    assert depends_on(service) == {"migrate": "service_completed_successfully"}
    check = healthcheck_command(service)
    assert "curl" not in check and "wget" not in check, "the slim image has neither curl nor wget"
    assert "urllib" in check
    assert f"127.0.0.1:{default_port(name)}/readyz" in check or f"localhost:{default_port(name)}/readyz" in check


def test_the_delivery_worker_runs_after_migrations(services):
    worker = services["worker"]
    assert commands(worker["command"]) == [["chiiki", "mynapoint", "worker"]]
    assert depends_on(worker) == {"migrate": "service_completed_successfully"}
    # `docker compose up --scale worker=3` needs no fixed name and no published port.
    assert "container_name" not in worker and "ports" not in worker


def test_gateway_waits_for_healthy_services_and_reaches_them_by_name(services):
    gateway = services["gateway"]
    assert depends_on(gateway) == dict.fromkeys(SERVICES, "service_healthy")
    env = environment(gateway)
    for name in SERVICES:
        assert env[f"CHIIKI_{name.upper()}_URL"] == f"http://{name}:{default_port(name)}"


@pytest.mark.parametrize("name", CHIIKI_SERVICES)
def test_chiiki_services_share_the_database_and_the_secret(services, name):
    service = services[name]
    assert service.get("build") is not None or service.get("image", "").startswith("chiiki"), (
        "chiiki processes run the project's image"
    )
    env = environment(service)
    assert env["CHIIKI_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["CHIIKI_DATABASE_URL"]
    assert env["CHIIKI_INTERNAL_SECRET"] == TEST_SECRET


def test_compose_refuses_to_start_without_the_internal_secret():
    for missing in ({}, {"CHIIKI_INTERNAL_SECRET": ""}):
        with pytest.raises(ValueError, match="CHIIKI_INTERNAL_SECRET"):
            load_compose(missing)


@pytest.mark.parametrize("name", CHIIKI_SERVICES)
def test_each_environment_makes_valid_production_settings(services, name, monkeypatch):
    # Settings ignore unknown CHIIKI_ variables, so a misspelt one would be dropped silently.
    env = {**dockerfile_env(), **environment(services[name])}
    unknown = [key for key in env if key.startswith("CHIIKI_") and key[7:].lower() not in Settings.model_fields]
    assert not unknown, f"no such settings: {unknown}"
    for key in [key for key in os.environ if key.startswith("CHIIKI_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.env == "production"
    assert settings.host == "0.0.0.0"


def test_every_variable_compose_reads_is_documented():
    documented = {m[1] for m in re.finditer(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)}
    missing = variables(COMPOSE_FILE.read_text()) - documented
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_holds_no_secret():
    values = re.findall(r"^\s*#?\s*CHIIKI_INTERNAL_SECRET=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    assert values == [""]
    assert "secrets.token_urlsafe" in ENV_EXAMPLE.read_text()


# --- Dockerfile ---------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with comments dropped and continuation lines joined."""
    text = re.sub(r"^\s*#.*\n", "", DOCKERFILE.read_text(), flags=re.MULTILINE)
    text = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, arguments in final_stage():
        if keyword == "ENV":
            for part in shlex.split(arguments):
                key, _, value = part.partition("=")
                env[key] = value
    return env


def runs(instructions) -> list[str]:
    return [" ".join(shlex.split(arguments)) for keyword, arguments in instructions if keyword == "RUN"]


def test_dockerfile_uses_a_slim_python_matching_the_project():
    froms = [arguments.split() for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert froms
    stage_names = {words[-1] for words in froms if len(words) == 3 and words[1].lower() == "as"}
    requires = re.search(r'requires-python\s*=\s*"([^"]+)"', (PROJECT_ROOT / "pyproject.toml").read_text())[1]
    for base in [words[0] for words in froms if words[0] not in stage_names]:
        match = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim(?:-\w+)?(?:@sha256:[0-9a-f]+)?", base)
        assert match, f"{base}: use a python:X.Y-slim base"
        assert SpecifierSet(requires).contains(f"{match[1]}.0"), f"{base} does not satisfy {requires}"


def test_dockerfile_runs_as_a_non_root_user():
    stage = final_stage()
    users = [(i, arguments.split(":")[0]) for i, (keyword, arguments) in enumerate(stage) if keyword == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    last_index, last_user = users[-1]
    assert last_user not in ("root", "0")
    assert not [k for k, _ in stage[last_index:] if k == "RUN"], "nothing should run as root after USER"


def test_dockerfile_installs_exactly_from_the_lock_file():
    stage_runs = runs(dockerfile_instructions())
    locked = [run for run in stage_runs if "-r requirements.lock" in run]
    assert locked, "install the dependencies from requirements.lock"
    assert all("--require-hashes" in run and "--no-deps" in run for run in locked)
    project = [run for run in stage_runs if re.search(r"pip install .*-e \.(\s|$)", run)]
    assert project and all("--no-deps" in run and "--no-build-isolation" in run for run in project)
    assert (PROJECT_ROOT / "requirements.lock").exists()


def test_dockerfile_sets_the_production_environment():
    env = dockerfile_env()
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("CHIIKI_ENV") == "production"
    assert env.get("CHIIKI_HOST") == "0.0.0.0"


def test_dockerfile_default_command_is_the_gateway():
    cmds = [arguments for keyword, arguments in final_stage() if keyword == "CMD"]
    assert cmds, "the image needs a default CMD"
    command = cmds[-1]
    argv = yaml.safe_load(command) if command.startswith("[") else command
    assert commands(argv) == [["chiiki", "service", "gateway"]]
    assert_real_entry_point(commands(argv)[0])


def test_dockerignore_keeps_local_state_out_of_the_image():
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git", ".env", "bench/results"} <= patterns


def _seconds(duration: str) -> float:
    value, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration).groups()
    return float(value) * {"ms": 0.001, "s": 1, "m": 60}[unit]


@pytest.mark.parametrize("name", ["postgres", *SERVICES, "gateway"])
def test_long_running_services_are_bounded_restarted_and_checked(services, name):
    service = services[name]
    limits = service["deploy"]["resources"]["limits"]
    assert limits.get("cpus") and limits.get("memory"), f"{name} needs CPU and memory limits"
    assert service["restart"] == "unless-stopped"
    assert healthcheck_command(service)


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_stop_leaves_time_to_drain_in_flight_requests(services, name):
    from common.serve import STOP_GRACE_SECONDS

    assert _seconds(services[name]["stop_grace_period"]) > STOP_GRACE_SECONDS
