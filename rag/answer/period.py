"""Questions about a period ("what happened in May 2023", "berita bulan Mei 2023"): the period as an article filter.

Only questions whose subject is the period itself are recognised: a question that merely mentions a date
("what did BSSN find on 20 June 2024?") asks about an event, and the article reporting it may be dated later, so
such dates are not turned into filters.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from rag.errors import BadInputError
from rag.text import MONTHS  # the month names dates are read with at ingest
from rag.types import ArticleFilter

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_WHEN = rf"(?:(?P<month>{_MONTH})\s+(?:tahun\s+)?(?P<year>(?:19|20)\d\d)|(?:tahun|year)\s+(?P<year_only>(?:19|20)\d\d))"
# The period is the subject: "what happened / what was reported / news / articles ... in <period>".
_PERIOD_QUESTION = re.compile(
    rf"^(?:(?:apa|what|which)\b.{{0,40}}?\b(?:terjadi|happened|diberitakan|dilaporkan|reported|news|berita|"
    rf"peristiwa|events?|kejadian)|(?:berita|artikel|news|articles?|ringkas\w*|summari[sz]e)\b)"
    rf".{{0,40}}?(?:\b(?:in|on|pada|di|dalam|selama|during|from|dari|sepanjang|of)\s+)?(?:the\s+)?(?:bulan\s+)?"
    rf"\b{_WHEN}"
    rf"\s*(?:\?|\.|!)?$",
    re.I,
)


@dataclass(frozen=True)
class Period:
    """A calendar period a question asks about, with the words it was named by."""

    since: str
    until: str
    label: str

    def as_filter(self, sites: tuple[str, ...] = ()) -> ArticleFilter:
        """The filter admitting articles dated in this period."""
        return ArticleFilter(self.since, self.until, sites)


def period_question(question: str) -> Period | None:
    """The period a question is about when its subject is the period itself (None otherwise)."""
    m = _PERIOD_QUESTION.search(question.strip())
    if not m:
        return None
    if m.group("year_only"):
        year = int(m.group("year_only"))
        return Period(f"{year}-01-01", f"{year}-12-31", m.group("year_only"))
    year, month = int(m.group("year")), MONTHS[m.group("month").lower()]
    last = calendar.monthrange(year, month)[1]
    return Period(f"{year}-{month:02d}-01", f"{year}-{month:02d}-{last:02d}", f"{m.group('month')} {year}")


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def _bound(value: str, end: bool, name: str) -> str:
    """An ISO date from YYYY, YYYY-MM or YYYY-MM-DD: the first day of the period, or its last when end is set."""
    m = _DATE.match(value.strip())
    if not m:
        raise BadInputError(f"--{name} {value!r} is not a date", "use YYYY-MM-DD, YYYY-MM or YYYY, e.g. 2023-05")
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if day:
            return date(year, int(month), int(day)).isoformat()
        if month:
            last = calendar.monthrange(year, int(month))[1] if 1 <= int(month) <= 12 else 0
            return date(year, int(month), last if end else 1).isoformat()
        return date(year, 12, 31).isoformat() if end else date(year, 1, 1).isoformat()
    except ValueError as e:
        raise BadInputError(f"--{name} {value!r} is not a valid date ({e})") from None


def article_filter(since: str | None = None, until: str | None = None, sites: list[str] | tuple[str, ...] = (),
                   ) -> ArticleFilter | None:
    """The filter for --since/--until (YYYY[-MM[-DD]], inclusive) and --site; None when nothing is set."""
    lo = _bound(since, False, "since") if since and since.strip() else None
    hi = _bound(until, True, "until") if until and until.strip() else None
    if lo and hi and lo > hi:
        raise BadInputError(f"--since {since} is after --until {until}", "swap the two dates")
    names = tuple(s.strip().lower() for s in sites if s and s.strip())
    f = ArticleFilter(lo, hi, names)
    return f or None
