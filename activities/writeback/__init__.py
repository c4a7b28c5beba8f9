"""Write-back: a package's latest state to the client's CRM contact and booking platforms."""

from activities.writeback.activities import SYNC_BUSY, SyncActivities
from activities.writeback.booking import (
    BOOKING_PLATFORMS,
    READ_ONLY,
    WRITABLE,
    BookingWriter,
    BoulevardWriter,
    MindbodyWriter,
    Written,
    ZenotiWriter,
    note_text,
    replace_marked_line,
)
from activities.writeback.boulevard import BoulevardAdmin, admin_authorization
from activities.writeback.config import (
    SyncConfig,
    build_crm,
    build_sync_activities,
    build_writers,
    write_back_platforms,
)

__all__ = [
    "BOOKING_PLATFORMS",
    "READ_ONLY",
    "SYNC_BUSY",
    "WRITABLE",
    "BookingWriter",
    "BoulevardAdmin",
    "BoulevardWriter",
    "MindbodyWriter",
    "SyncActivities",
    "SyncConfig",
    "Written",
    "ZenotiWriter",
    "admin_authorization",
    "build_crm",
    "build_sync_activities",
    "build_writers",
    "note_text",
    "replace_marked_line",
    "write_back_platforms",
]
