"""Shared synthetic manifests for the task tests, and tests of geor1.builders.common / split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geor1.builders.common import (
    balanced_positions,
    load_view_set,
    option_letters,
    save_hf_dataset,
    write_task_set,
)
from geor1.builders.split import SplitConfig, assign_splits, places_in_split, region_cell, unit_hash
from geor1.errors import RecordError
from geor1.records import TaskExample, View, read_task_file, write_views

KINDS = ("satellite", "terrain", "landcover")
IGBP = (
    "Water Bodies",
    "Evergreen Broadleaf Forests",
    "Grasslands",
    "Croplands",
    "Barren",
    "Urban and Built-up Lands",
)
CONTINENT_BY_SECTOR = ("North America", "South America", "Europe", "Africa", "Asia", "Oceania")


def place_meta(lat: float, lon: float, rng: np.random.Generator) -> dict:
    """Return offline-Earth-like metadata for a synthetic place (countries are 30x30 degree cells)."""
    shares = rng.dirichlet(np.ones(len(IGBP)))
    dominant = IGBP[int(np.argmax(shares))]
    code = f"C{int((lon + 180) // 30):02d}{int((lat + 90) // 30)}"
    band = next(
        (
            b
            for b, u in zip(
                ("tropical", "subtropical", "temperate", "subpolar"), (23.44, 35, 55, 66.56), strict=True
            )
            if abs(lat) < u
        ),
        "polar",
    )
    mountainous = None if rng.random() < 0.2 else bool(rng.random() < 0.3)
    return {
        "country_code": code,
        "country": f"Country {code}",
        "admin1": "Region",
        "place_name": f"Town {lat:.1f},{lon:.1f}",
        "continent": CONTINENT_BY_SECTOR[int((lon + 180) // 60) % 6],
        "landcover_shares": {c: round(float(s), 4) for c, s in zip(IGBP, shares, strict=True)},
        "landcover_dominant": dominant,
        "landcover_dominant_share": round(float(shares.max()), 4),
        "land_share": round(float(1 - shares[0]), 4),
        "water_share": round(float(shares[0]), 4),
        "coastal": bool(rng.random() < 0.4),
        "hemisphere_ns": "north" if lat >= 0 else "south",
        "hemisphere_ew": "east" if lon >= 0 else "west",
        "lat_band": band,
        "near_equator": abs(lat) < 10,
        "desert": bool(shares[4] >= 0.5),
        "relief_roughness": None if mountainous is None else float(rng.random()),
        "mountainous": mountainous,
        "footprint_deg": 1.5,
    }


def make_manifest(
    root: Path,
    n_places: int = 300,
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
    coords: list[tuple[float, float]] | None = None,
) -> Path:
    """Write ``n_places`` synthetic places (one 16x16 solid-colour PNG per kind, colour from the
    coordinates) and their view manifest under ``root``; return the manifest path."""
    rng = np.random.default_rng(seed)
    if coords is None:
        lat = np.degrees(np.arcsin(rng.uniform(-0.95, 0.95, n_places)))
        lon = rng.uniform(-180, 180, n_places)
        coords = list(zip(lat.tolist(), lon.tolist(), strict=True))
    (root / "images").mkdir(parents=True, exist_ok=True)
    views = []
    for p, (la, lo) in enumerate(coords):
        meta = place_meta(la, lo, rng)
        for j, kind in enumerate(kinds):
            colour = (int((la + 90) / 180 * 255), int((lo + 180) / 360 * 255), 60 * j)
            rel = f"images/p{p:04d}_{kind}.png"
            Image.new("RGB", (16, 16), colour).save(root / rel)
            views.append(View(f"p{p:04d}-{kind}", rel, la, lo, kind, place=f"p{p:04d}", meta=meta))
    path = root / "views.jsonl"
    write_views(path, views)
    return path


def test_balanced_positions_counts_and_randomness():
    rng = np.random.default_rng(0)
    for n, k in [(0, 4), (3, 4), (10, 4), (1001, 4), (7, 2)]:
        pos = balanced_positions(n, k, rng)
        counts = np.bincount(pos, minlength=k)
        assert len(pos) == n and counts.max() - counts.min() <= 1
    a = balanced_positions(40, 4, np.random.default_rng(1))
    b = balanced_positions(40, 4, np.random.default_rng(2))
    assert (a != b).any()
    # One option-letter helper for builders and parsers: a string, and out-of-range counts refused.
    assert option_letters(4) == "ABCD" and list(option_letters(4)) == ["A", "B", "C", "D"]
    for bad in (0, 27, True, 2.0):
        with pytest.raises(ValueError):
            option_letters(bad)
    assert option_letters(np.int64(3)) == "ABC"


def test_view_manifest_errors_name_file_and_line(tmp_path):
    manifest = make_manifest(tmp_path, n_places=3)
    lines = manifest.read_text().splitlines()
    bad = json.loads(lines[4])
    bad["lat"] = 123
    (tmp_path / "bad.jsonl").write_text("\n".join([*lines[:4], json.dumps(bad), *lines[5:]]) + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:5 field 'lat'"):
        load_view_set(tmp_path / "bad.jsonl")
    (tmp_path / "dup.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(RecordError, match=r"dup\.jsonl:10 field 'id': duplicate view id"):
        load_view_set(tmp_path / "dup.jsonl")
    (tmp_path / "images" / "p0001_terrain.png").unlink()
    views = load_view_set(manifest)
    i = [v.id for v in views.views].index("p0001-terrain")
    with pytest.raises(RecordError, match=r"views\.jsonl:5 field 'image': image file not found"):
        views.image_relative_to(i, tmp_path / "out")


def test_read_task_file_names_line(tmp_path):
    good = {
        "id": "a",
        "task": "geolocation",
        "images": ["x.png"],
        "prompt": [
            {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "q"}]}
        ],
        "solution": "(1.0000, 2.0000)",
        "meta": {},
    }
    bad = dict(good, id="b", images=["x.png", "y.png"])
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(RecordError, match=r"t\.jsonl:2 field 'images'"):
        read_task_file(path, check_images=False)
    with pytest.raises(RecordError, match="duplicate example id"):
        write_task_set(tmp_path / "u.jsonl", [good, good])
    assert not (tmp_path / "u.jsonl").exists()


def test_hf_dataset_has_trl_image_column(tmp_path):
    from datasets import load_from_disk

    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "x.png")
    example = {
        "id": "a",
        "task": "geolocation",
        "images": ["x.png"],
        "prompt": [
            {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "q"}]}
        ],
        "solution": "(1.0000, 2.0000)",
        "meta": {"lat": 1.0},
    }
    write_task_set(tmp_path / "t.jsonl", [example])
    (read,) = read_task_file(tmp_path / "t.jsonl")
    assert isinstance(read, TaskExample) and read.images == [str(tmp_path / "x.png")]
    save_hf_dataset([read], tmp_path / "ds")
    save_hf_dataset([read], tmp_path / "ds")  # replaces an existing copy
    ds = load_from_disk(str(tmp_path / "ds"))
    row = ds[0]
    assert row["images"][0].size == (8, 8) and json.loads(row["meta"]) == {"lat": 1.0}
    assert row["prompt"][0]["content"][0] == {"type": "image", "text": None}


def test_split_by_place_and_region_is_stable_and_disjoint(tmp_path):
    views = load_view_set(make_manifest(tmp_path, n_places=200))
    a = assign_splits(views.views, SplitConfig(by="place", test_fraction=0.25, seed=3))
    assert a == assign_splits(views.views, SplitConfig(by="place", test_fraction=0.25, seed=3))
    share = Counter(a.values())["test"] / len(a)
    assert 0.12 < share < 0.38
    r = assign_splits(views.views, SplitConfig(by="region", test_fraction=0.3, seed=0, region_deg=20))
    by_cell: dict[str, set[str]] = {}
    for v in views.views:
        by_cell.setdefault(region_cell(v.lat, v.lon, 20), set()).add(r[v.place])
    assert all(len(s) == 1 for s in by_cell.values())  # a region never straddles the split
    assert places_in_split(r, "test") and places_in_split(r, "all") is None
    with pytest.raises(ValueError, match="holds no places"):
        places_in_split(assign_splits(views.views, SplitConfig(test_fraction=0.0)), "test")
    assert region_cell(10, 180, 10) == region_cell(10, -180, 10)
    assert 0 <= unit_hash("x", 1) < 1


def test_view_set_rejects_an_image_linked_from_outside_the_root(tmp_path):
    outside = tmp_path / "outside.png"
    Image.new("RGB", (4, 4)).save(outside)
    root = tmp_path / "views"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").symlink_to(outside)
    write_views(root / "views.jsonl", [View("a", "img/a.png", 1.0, 2.0, "satellite")])
    views = load_view_set(root / "views.jsonl")
    with pytest.raises(
        RecordError, match=r"views\.jsonl:1 field 'image': image path 'img/a.png' escapes the root"
    ):
        views.image_relative_to(0, tmp_path)


def test_view_lines_may_name_their_root(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (4, 4)).save(photos / "a.png")
    manifest = tmp_path / "runs" / "views.jsonl"
    manifest.parent.mkdir()
    write_views(manifest, [View("a", "a.png", 1.0, 2.0, "satellite", root="../photos")])
    views = load_view_set(manifest)
    assert views.image_path(0) == photos / "a.png"
    assert views.image_relative_to(0, tmp_path / "tasks") == "../photos/a.png"
    manifest.write_text('{"id": "a", "image": "a.png", "lat": 1, "lon": 2, "view": "satellite", "root": 3}\n')
    with pytest.raises(RecordError, match=r"views\.jsonl:1 field 'root'"):
        load_view_set(manifest)
