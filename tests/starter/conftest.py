"""The seeded spa (clients, package types, a worker) for starter tests that need one."""

from tests.workflows.conftest import spa  # noqa: F401 (fixture)
