"""British English with 24-hour times and the zone's abbreviation (only what differs)."""

DATETIME_FORMAT = "j M Y, H:i T"  # '6 Dec 2026, 09:50 UTC'
SHORT_DATETIME_FORMAT = "d/m/Y H:i T"  # '06/12/2026 09:50 UTC'
TIME_FORMAT = "H:i T"  # '09:50 UTC'
