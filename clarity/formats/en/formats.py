"""English: the same zone-naming formats as en_GB."""

from clarity.formats.en_GB.formats import DATETIME_FORMAT, SHORT_DATETIME_FORMAT, TIME_FORMAT

__all__ = ["DATETIME_FORMAT", "SHORT_DATETIME_FORMAT", "TIME_FORMAT"]
