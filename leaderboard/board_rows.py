"""A ranked entry as the leaderboard page and the API show it, rendered when the entry is written.

Scoring is rare and reading is constant: each ``LeaderboardEntry`` keeps its
row of the page (``row_html``: every cell but the rank) and of the API
(``row_json``: the result's JSON object without its ``rank``) beside its
figures, so that serving a page joins stored text instead of formatting 50
rows. The rank is put in front when read, so an entry that only moves keeps
its renderings.

Each rendering carries the stamp of what made it (``rendering_stamp``: this
module, the formatting rules, the row's template, the time zone, the URLs
and the challenge's scoring kind, which picks the columns). An entry whose stamp is not the current one — written before a
release that changed how rows look, or before its challenge's scoring kind
was changed — is rendered again when it is read (correct, only slower), and
``manage.py migrate`` and saving the challenge render such entries again
(``leaderboard.services.entries_rerender``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.template import engines
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from leaderboard import scoring
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, score_data, statistics_data

ROW_TEMPLATE = "leaderboard/_board_row.html"
# What an entry's renderings are made of, in the order the writers pass them.
FIGURE_FIELDS = ("submission_id", "username", "display_name", "score", "statistic_1", "statistic_2", "statistic_3",
                 "submitted_at", "verified")


@dataclass(frozen=True)
class Figures:
    """What a row shows of an entry (the names of ``FIGURE_FIELDS``)."""

    submission_id: int
    username: str
    display_name: str
    score: float
    statistic_1: float | None
    statistic_2: float | None
    statistic_3: float | None
    submitted_at: datetime
    verified: bool

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class Cell:
    text: str
    absent: bool = False


def entry_renderings(*, figures: Figures, scoring_kind: str) -> dict[str, str]:
    """The stored renderings of one entry: ``row_html``, ``row_json`` and their ``rendering`` stamp."""
    columns = COLUMNS[scoring_kind]
    values = (figures.statistic_1, figures.statistic_2, figures.statistic_3)
    html = _row_template().render({
        "row": figures,
        "cells": [Cell(c.text(v), absent=v is None) for c, v in zip(columns, values, strict=True)],
        "score": SCORE_COLUMNS[scoring_kind].text(figures.score),
    })
    result = {
        "participant": figures.username,
        "display_name": figures.shown_name,
        "statistics": statistics_data(figures, columns),
        "score": score_data(figures, scoring_kind),
        "submitted_at": figures.submitted_at.isoformat().replace("+00:00", "Z"),
        "submission": reverse("leaderboard:submission", args=[figures.submission_id]),
    }
    return {"row_html": html.strip(), "row_json": json_text(result), "rendering": rendering_stamp(scoring_kind)}


def json_text(value: object) -> str:
    """JSON as the API renders it (DRF's JSONRenderer: compact, UTF-8, U+2028/2029 escaped)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html_row(*, rank: int, rendered: str) -> SafeString:
    """One ``<tr>`` of the page. ``rendered`` is the template's own output, escaped when it was written."""
    return mark_safe(f'<tr><td class="num">{rank}</td>\n{rendered}</tr>')


def html_rows(rows: list[SafeString]) -> SafeString:
    """The rows of ``html_row`` as one ``<tbody>``'s content (each one escaped when it was written)."""
    return mark_safe("\n".join(rows))


def json_result(*, rank: int, rendered: str) -> str:
    """One object of the API's ``results``: the rank first, then the stored members."""
    return f'{{"rank":{rank},{rendered[1:]}'


@functools.cache
def _row_template():
    return engines["django"].get_template(ROW_TEMPLATE)


@functools.cache
def rendering_stamp(scoring_kind: str) -> str:
    """Names what renders a row of this scoring kind in this process: a stored rendering with another stamp is
    out of date."""
    digest = hashlib.sha256(scoring_kind.encode())
    for path in (Path(__file__), Path(scoring.__file__), Path(_row_template().origin.name)):
        digest.update(path.read_bytes())
    # Links and dates come from settings and the URLconf, which the sources above do not show.
    digest.update(f"{settings.TIME_ZONE}|{settings.USE_TZ}|{reverse('leaderboard:participant', args=['x'])}|"
                  f"{reverse('leaderboard:submission', args=[1])}".encode())
    return digest.hexdigest()[:16]
