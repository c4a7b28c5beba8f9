"""The seeded spa of the workflow tests (clients with contact details, package types)."""

from tests.workflows.conftest import spa

__all__ = ["spa"]
