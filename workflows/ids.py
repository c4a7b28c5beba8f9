"""Workflow ids: derived from business ids so a second start of the same sale is refused."""

PACKAGE_PREFIX = "package-"


def package_workflow_id(package_id: str) -> str:
    return f"{PACKAGE_PREFIX}{package_id}"


def package_id_from_workflow_id(workflow_id: str) -> str:
    if not workflow_id.startswith(PACKAGE_PREFIX):
        raise ValueError(f"not a package workflow id: {workflow_id!r}")
    return workflow_id[len(PACKAGE_PREFIX) :]


VISIT_PREFIX = "visit:"


def visit_workflow_id(platform: str, appointment_id: str) -> str:
    """One visit workflow per appointment on a platform: every delivery meets the same one."""
    return f"{VISIT_PREFIX}{platform}:{appointment_id}"
