"""Reading pages the way a user does: tables by their rows and cells, headings and links by their names."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page

# LEADERBOARD_PAGE_SIZE of the platform these tests start: small, so that a dozen rows need two pages.
PAGE_SIZE = 10


def data_rows(page: Page, table: Locator | None = None) -> Locator:
    """The rows of a table that hold data cells (the header row has only column headers)."""
    scope = table if table is not None else page.get_by_role("table").first
    return scope.get_by_role("row").filter(has=page.get_by_role("cell"))


def row_of(page: Page, name: str) -> Locator:
    """The table row that links to ``name`` (a participant, a target …)."""
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def cell_texts(row: Locator) -> list[str]:
    return [text.strip() for text in row.get_by_role("cell").all_inner_texts()]


def whole_word(text: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def column_header(page: Page, label: str) -> Locator:
    """A column's header by its label, whatever follows it (a unit, a sort arrow)."""
    return page.get_by_role("columnheader", name=re.compile(rf"^\s*{re.escape(label)}(?![\w])"))
