"""Date and time formats that name the time zone (settings.FORMAT_MODULE_PATH).

A time without a zone is ambiguous for a team across sites: every admin page
shows date-times in settings.TIME_ZONE and says which ("6 Dec 2026, 09:50 UTC").
"""
