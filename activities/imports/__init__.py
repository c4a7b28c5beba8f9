"""Moving in: clients and open packages brought in from the old system, as import jobs.

- `models`: the rows as parsed (`ClientRow`, `PackageRow`), options and outcomes
- `store`: `ImportStore`, the jobs, their rows and the import keys in Postgres
- `clients`: `ClientImporter`, one client row applied (or judged, in a dry run)
- `packages`: `PackageImporter`, one open package started with its opening balance
- `activities`: `ImportActivities`, the import workflow's activities
"""

from activities.imports.activities import ImportActivities
from activities.imports.models import (
    OUTCOMES,
    ClientRow,
    ImportFormat,
    ImportKind,
    ImportOptions,
    Outcome,
    PackageRow,
    RowResult,
)
from activities.imports.store import ImportJob, ImportStore, JobProgress, NewRow

__all__ = [
    "OUTCOMES",
    "ClientRow",
    "ImportActivities",
    "ImportFormat",
    "ImportJob",
    "ImportKind",
    "ImportOptions",
    "ImportStore",
    "JobProgress",
    "NewRow",
    "Outcome",
    "PackageRow",
    "RowResult",
]
