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


def visit_review_item_id(platform: str, appointment_id: str, event_key: str) -> str:
    """The review item a visit opens for one of its events (one per event, however often
    retried): webhook answers look it up to learn that the event went to review."""
    return f"{visit_workflow_id(platform, appointment_id)}:{event_key}"


PAYMENT_PREFIX = "payment:"


def payment_workflow_id(provider: str, payment_key: str) -> str:
    """One payment workflow per provider payment: its events (paid, refunded) meet there."""
    return f"{PAYMENT_PREFIX}{provider}:{payment_key}"


def stripe_package_id(payment_intent_id: str) -> str:
    """A package bought through Stripe is named by its payment: one package per payment."""
    return f"pkg_{payment_intent_id}"
