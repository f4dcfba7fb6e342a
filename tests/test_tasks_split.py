"""Train/test splits (geor1.builders.split): the hash and grid cells that decide a place's split, the keys of
each --split-by, and the refusals a user sees."""

from __future__ import annotations

import pytest

from geor1.builders.split import (
    SplitConfig,
    assign_splits,
    places_in_split,
    region_cell,
    split_key,
    split_places,
    unit_hash,
)
from geor1.errors import ConfigError, RecordError
from geor1.records import View


def view(place: str, lat: float = 0.0, lon: float = 0.0, **meta) -> View:
    return View(
        id=f"{place}-v", image=f"{place}.png", lat=lat, lon=lon, view="street", place=place, meta=meta
    )


def test_unit_hash_is_the_published_one():
    """Literal values: a split must not move when the code is rewritten (test sets would leak)."""
    assert unit_hash("paris", 0) == 0.07226587438632884
    assert unit_hash("paris", 1) == 0.6682789720222317
    assert unit_hash("3:4", 7) == 0.9615858711154224


@pytest.mark.parametrize(
    "lat,lon,deg,cell",
    [
        (0.0, 0.0, 10.0, "9:18"),
        (-90.0, -180.0, 10.0, "0:0"),
        (90.0, 0.0, 10.0, "17:18"),  # the pole belongs to the last row, not a row of its own
        (90.0, 0.0, 1.0, "179:180"),
        (-89.5, -179.5, 1.0, "0:0"),
        (89.5, 179.5, 1.0, "179:359"),
        (-0.5, -0.5, 1.0, "89:179"),
        (45.0, 180.0, 10.0, "13:0"),  # 180 E is 180 W
        (45.0, -180.0, 10.0, "13:0"),
        (10.0, 20.0, 7.0, "14:28"),
        (90.0, 0.0, 7.0, "25:25"),
    ],
)
def test_region_cells(lat, lon, deg, cell):
    assert region_cell(lat, lon, deg) == cell


@pytest.mark.parametrize(
    "kwargs,key,message",
    [
        ({"by": "city"}, "by", "must be one of place, region, country, continent, got 'city'"),
        ({"test_fraction": 1.01}, "test_fraction", "must be in [0, 1], got 1.01"),
        ({"test_fraction": -0.01}, "test_fraction", "must be in [0, 1], got -0.01"),
        ({"region_deg": 0.0}, "region_deg", "the region cell size must be in (0, 180] degrees, got 0.0"),
        ({"region_deg": 180.5}, "region_deg", "the region cell size must be in (0, 180] degrees, got 180.5"),
    ],
)
def test_split_config_refusals(kwargs, key, message):
    with pytest.raises(ConfigError) as err:
        SplitConfig(**kwargs)
    assert (err.value.key, err.value.reason) == (key, message)
    assert str(err.value) == f"config key '{key}': {message}"


def test_split_config_edges_are_allowed():
    for kwargs in (
        {"test_fraction": 0.0},
        {"test_fraction": 1.0},
        {"region_deg": 180.0},
        {"region_deg": 0.5},
    ):
        SplitConfig(**kwargs)


def test_keys_of_each_split_by():
    v = view("p1", lat=48.9, lon=2.35, country_code="FR", continent="Europe")
    assert split_key(v, SplitConfig(by="place")) == "p1"
    assert split_key(v, SplitConfig(by="region", region_deg=5.0)) == region_cell(48.9, 2.35, 5.0) == "27:36"
    assert split_key(v, SplitConfig(by="country")) == "FR"
    assert split_key(v, SplitConfig(by="continent")) == "Europe"


@pytest.mark.parametrize("by,key", [("country", "country_code"), ("continent", "continent")])
def test_missing_metadata_is_named_at_its_line(by, key):
    views = [view("a", country_code="FR", continent="Europe"), view("b", country_code="", continent="")]
    with pytest.raises(RecordError) as err:
        split_places(views, "test", SplitConfig(by=by), manifest="views.jsonl", lines=[1, 7])
    assert str(err.value) == f"views.jsonl:7 field 'meta': splitting by {by} needs meta.{key} on every view"
    assert (err.value.path, err.value.line, err.value.field) == ("views.jsonl", 7, "meta")


def test_a_place_follows_its_hash_and_its_first_view():
    config = SplitConfig(test_fraction=0.5, seed=3)
    places = [f"p{i}" for i in range(40)]
    views = [view(p) for p in places] + [view("p0", lat=50.0)]
    assignment = assign_splits(views, config)
    assert assignment == {p: "test" if unit_hash(p, 3) < 0.5 else "train" for p in places}
    test, train = split_places(views, "test", config), split_places(views, "train", config)
    assert test == {p for p in places if assignment[p] == "test"} and test and train
    assert test | train == set(places) and not test & train
    assert split_places(views, "all", config) is None
    everything = assign_splits(views, SplitConfig(test_fraction=1.0))
    assert set(everything.values()) == {"test"}


def test_region_split_keeps_a_cell_together():
    config = SplitConfig(by="region", region_deg=10.0, test_fraction=0.5, seed=1)
    views = [view(f"p{i}", lat=1.0 + (i % 5), lon=-170.0 + 20 * (i // 5)) for i in range(50)]
    assignment = assign_splits(views, config)
    by_cell: dict[str, set[str]] = {}
    for v in views:
        by_cell.setdefault(region_cell(v.lat, v.lon, 10.0), set()).add(assignment[v.place])
    assert all(len(splits) == 1 for splits in by_cell.values()) and len(by_cell) == 10
    assert {s for splits in by_cell.values() for s in splits} == {"train", "test"}


def test_places_in_split_refusals():
    with pytest.raises(ConfigError) as err:
        places_in_split({"a": "train"}, "valid")
    assert str(err.value) == "config key 'split': must be one of train, test, all, got 'valid'"
    with pytest.raises(ConfigError) as err:
        places_in_split({"a": "train"}, "test")
    assert str(err.value) == (
        "config key 'split': 'test' holds no places (try another test fraction, split seed or split unit)"
    )
    assert places_in_split({"a": "train", "b": "test"}, "train") == {"a"}
