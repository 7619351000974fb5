"""Time as the suite keeps it: aware UTC in the database, Japan's time zone for dates people read."""

from datetime import UTC, date, datetime, timedelta, timezone

# No daylight saving in Japan, so a fixed offset is exact and needs no tz database in the image.
JST = timezone(timedelta(hours=9), "JST")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A timestamp read back from SQLite has lost its zone; the suite writes only UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fiscal_year_of(day: date) -> int:
    """The Japanese fiscal year (年度, 1 April – 31 March) containing `day`."""
    return day.year if day.month >= 4 else day.year - 1


def current_fiscal_year() -> int:
    """The fiscal year of today in Japan."""
    return fiscal_year_of(datetime.now(JST).date())
