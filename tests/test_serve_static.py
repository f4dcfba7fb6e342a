"""The page's vendored Leaflet: served only from the allow-list, and shipped in the wheel."""

from __future__ import annotations

import glob
import sys
from pathlib import Path

import pytest

from geor1.serve.page import STATIC_FILES, index_html, static_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "geor1"
STATIC = PACKAGE / "serve" / "static"


def test_allow_listed_files_exist_and_are_leaflet_1_9_4():
    for name in STATIC_FILES:
        content, media_type = static_file(name)
        assert content == (STATIC / name).read_bytes() and media_type
    js, media_type = static_file("leaflet/leaflet.js")
    assert b"Leaflet 1.9.4" in js[:200] and media_type.startswith("text/javascript")
    assert b"BSD 2-Clause" in static_file("leaflet/LICENSE")[0]


@pytest.mark.parametrize(
    "name",
    [
        "leaflet/leaflet.js.map",
        "leaflet/VENDORED.md",
        "leaflet/../page.py",
        "../app.py",
        "/etc/passwd",
        "leaflet/images/../../../app.py",
        "leaflet/images",
        "",
    ],
)
def test_names_outside_the_allow_list_are_refused(name):
    assert static_file(name) is None


def test_page_loads_only_allow_listed_assets():
    page = index_html("m")
    assert 'src="static/leaflet/leaflet.js"' in page and 'href="static/leaflet/leaflet.css"' in page
    assert "L.CRS.EPSG4326" in page and "L.imageOverlay('world.jpg'" in page
    assert "http://" not in page and "https://" not in page  # nothing from a CDN or tile server


def test_every_static_file_is_package_data():
    """pyproject's package-data globs (relative to src/geor1, as setuptools reads them) cover static/."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["geor1"]
    packaged = {Path(p) for pattern in patterns for p in glob.glob(str(PACKAGE / pattern))}
    shipped = {p for p in STATIC.rglob("*") if p.is_file()}
    assert shipped and shipped <= packaged, sorted(map(str, shipped - packaged))
    assert {STATIC / name for name in STATIC_FILES} <= shipped
