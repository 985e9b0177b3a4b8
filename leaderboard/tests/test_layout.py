"""How the pages hold up on a phone and in dark mode: what the markup and the stylesheet promise."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from leaderboard.models import SubmissionStatus
from leaderboard.tests.conftest import challenge_get, run_make, scored_make, submission_make
from leaderboard.tests.test_pages import score_a_run
from loadtest.models import ChaosEvent

CSS = settings.BASE_DIR / "static/css/site.css"
TEMPLATES = settings.BASE_DIR / "templates"


def css_text() -> str:
    return CSS.read_text()


def rule(css: str, selector: str) -> str:
    match = re.search(rf"(?:^|\n|\}}\s*){re.escape(selector)} \{{([^}}]*)\}}", css)
    assert match, selector
    return match.group(1)


def unwrapped_tables(content: str) -> list[str]:
    """Every table that is not the first thing inside a horizontally scrolling wrapper."""
    return [
        content[max(0, m.start() - 80):m.start() + 40]
        for m in re.finditer(r"<table\b", content)
        if not re.search(r'<div class="table-wrap( fit)?">\s*$', content[:m.start()])
    ]


def test_every_table_scrolls_inside_its_wrapper_on_a_narrow_screen(client, alice):
    challenge = challenge_get("longest-upkeep")
    run = run_make(duration_s=10, down={3})
    ChaosEvent.objects.create(run=run, index=0, kind="crash", spec={}, at_s=3, duration_s=1, applied_second=3.0,
                              cleared_second=4.0)
    submission = score_a_run(participant=alice[0], challenge=challenge, run=run)
    scored_make(participant=alice[0], challenge=challenge_get("robust-service"), statistics=(1.0, 1.0, 1.0), score=1.0)
    for path in ("/leaderboard/robust-service/", "/participants/alice/", f"/submissions/{submission.id}/"):
        content = client.get(path).content.decode()
        assert "<table" in content, path
        assert unwrapped_tables(content) == [], path
    assert "overflow-x: auto" in rule(css_text(), ".table-wrap")


def test_the_header_and_its_navigation_wrap_instead_of_overflowing(client, db):
    css = css_text()
    assert "flex-wrap: wrap" in rule(css, ".site-header")
    assert "flex-wrap: wrap" in rule(css, ".site-header nav")
    assert "flex-wrap: wrap" in rule(css, ".tabs")
    content = client.get("/").content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in content


def test_the_dark_scheme_redefines_every_colour_the_pages_use(client, db):
    css = css_text()
    light = re.search(r":root \{(.*?)\n\}", css, flags=re.S).group(1)
    dark = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*:root \{(.*?)\}\s*\}", css, flags=re.S).group(1)
    defined_light = set(re.findall(r"(--[\w-]+):", light))
    defined_dark = set(re.findall(r"(--[\w-]+):", dark))
    used = set(re.findall(r"var\((--[\w-]+)\)", css))
    assert used <= defined_light
    colours = {name for name in defined_light if re.search(rf"{name}: (#|rgba)", light)}
    assert colours and colours <= defined_dark, sorted(colours - defined_dark)
    # Nothing outside the variables names a colour of its own.
    outside = re.sub(r":root \{.*?\}", "", css, flags=re.S)
    assert not re.findall(r"#[0-9a-fA-F]{3,6}\b", outside)
    assert '<meta name="color-scheme" content="light dark">' in client.get("/").content.decode()


@pytest.mark.parametrize("name", ["_run_chart.html", "_score_chart.html"])
def test_charts_take_their_colours_from_the_stylesheet(name):
    markup = (TEMPLATES / "leaderboard" / name).read_text()
    assert not re.search(r'(fill|stroke)="(?!none)[^"{]', markup)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", markup)


def test_the_live_chart_and_the_final_one_share_their_markup(client, alice):
    # One template for both: the live one is the final one with an id that progress.js finds.
    challenge = challenge_get("robust-service")
    live = submission_make(participant=alice[0], challenge=challenge, status=SubmissionStatus.RUNNING,
                           run=run_make(status="running"))
    content = client.get(f"/submissions/{live.id}/").content.decode()
    for css_class in ("layer-ramp", "layer-down", "layer-grid", "layer-p95-ticks", "layer-x", "layer-faults",
                      "series-success", "series-failure", "series-p95"):
        assert f'class="{css_class}"' in content, css_class
    script = (settings.BASE_DIR / "static/leaderboard/progress.js").read_text()
    for css_class in ("layer-ramp", "layer-down", "layer-grid", "layer-p95-ticks", "layer-x", "layer-faults",
                      ".series-success", ".series-failure", ".series-p95"):
        assert css_class in script, css_class
