"""The package's book: its state and every rule that changes it, free of Temporal.

`PackageWorkflow` is the shell that delivers messages and timers to these functions and
drains the effects they queue; the rules themselves take `now` as an argument, so they
are deterministic by construction and testable without a server.
"""

from workflows.book.core import PackageBook, Refused

__all__ = ["PackageBook", "Refused"]
