"""DATA/run/stack.json: how CLI commands in another terminal find a running `punchcard up`.

`punchcard up` writes it (only when PUNCHCARD_DATABASE_URL is unset, i.e. when it runs the
embedded PostgreSQL) and removes it on exit. The CLI reads it only while the process that
wrote it is alive, and only for settings the environment does not set itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, SecretStr, ValidationError

from workers.settings import Settings


class StackInfo(BaseModel):
    """What `punchcard up` is serving; no secrets (the embedded PostgreSQL trusts local sockets)."""

    pid: int
    data_dir: str
    database_url: str
    temporal_address: str
    temporal_namespace: str
    task_queue: str
    ui_url: str
    temporal_pid: int | None = None
    postgres_pid: int | None = None


def stack_path(data_dir: Path) -> Path:
    return data_dir / "run" / "stack.json"


def write_stack(data_dir: Path, info: StackInfo) -> Path:
    path = stack_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(info.model_dump_json(indent=2), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def remove_stack(data_dir: Path, *, pid: int) -> None:
    """Remove the file if this process wrote it (never another live stack's)."""
    info = read_stack(data_dir, require_alive=False)
    if info is not None and info.pid == pid:
        stack_path(data_dir).unlink(missing_ok=True)


def read_stack(data_dir: Path, *, require_alive: bool = True) -> StackInfo | None:
    try:
        raw = json.loads(stack_path(data_dir).read_text(encoding="utf-8"))
        info = StackInfo.model_validate(raw)
    except (OSError, ValueError, ValidationError):
        return None
    if require_alive and not pid_alive(info.pid):
        return None
    return info


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def with_running_stack(settings: Settings) -> Settings:
    """Fill in the database and Temporal of a running `punchcard up` when the env is silent."""
    if settings.database_url is not None:
        return settings
    info = read_stack(settings.data_dir)
    if info is None:
        return settings
    explicit = settings.model_fields_set
    update: dict[str, object] = {"database_url": SecretStr(info.database_url)}
    for field in ("temporal_address", "temporal_namespace", "task_queue"):
        if field not in explicit:
            update[field] = getattr(info, field)
    return settings.model_copy(update=update)
