"""Times as XDS writes them: HL7 DTM in UTC (ITI TF-3 4.2.3.1.5). The caller reads the clock."""

from __future__ import annotations

from datetime import UTC, datetime


def dtm(moment: datetime) -> str:
    """YYYYMMDDhhmmss in UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")
