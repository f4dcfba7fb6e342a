from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from geor1.builders.common import load_view_set
from geor1.builders.pairing import BANDS, PairingConfig, ShortageError, build_pairing
from geor1.builders.split import SplitConfig, assign_splits, places_in_split
from geor1.errors import ConfigError
from geor1.geo import destination, haversine_km
from geor1.records import check_task_example, prompt_text
from test_tasks_common import make_manifest


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    return load_view_set(make_manifest(tmp_path_factory.mktemp("earth"), n_places=300))


def check_examples(examples, views, k=4):
    """Every invariant of a pairing example, checked on every example."""
    by_id = {v.id: v for v in views.views}
    for ex in examples:
        check_task_example(ex)
        m = ex["meta"]
        assert len(ex["images"]) == k + 1
        assert ex["solution"] == "ABCDEFGH"[m["answer_index"]]
        assert len(set(m["candidate_places"])) == k  # never two views of one place
        assert [p == m["place"] for p in m["candidate_places"]].count(True) == 1
        assert m["candidate_places"][m["answer_index"]] == m["place"]
        lo, hi = m["band_km"]
        coords = np.array(m["candidate_coords"])
        d = haversine_km(m["lat"], m["lon"], coords[:, 0], coords[:, 1])
        assert np.allclose(d, m["distractor_km"], atol=1e-3)
        for j, dj in enumerate(d):
            cand = by_id[m["candidate_ids"][j]]
            assert (cand.lat, cand.lon, cand.place) == (coords[j, 0], coords[j, 1], m["candidate_places"][j])
            assert cand.view == m["candidate_view"] and ex["images"][1 + j].endswith(
                cand.image.split("/")[-1]
            )
            if j == m["answer_index"]:
                assert dj == pytest.approx(0.0, abs=1e-6)
            else:
                assert lo <= dj <= hi, (ex["id"], dj, lo, hi)
        text = prompt_text(ex["prompt"])
        assert text.startswith(
            f"Query ({m['query_view']} view):<image>Candidate A ({m['candidate_view']} view):"
        )
        assert "Which candidate was taken at the same location as the query?" in text


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    """300 places within 800 km of (45, 10): plenty of medium negatives, some hard ones."""
    rng = np.random.default_rng(5)
    lat, lon = destination(
        np.full(300, 45.0), np.full(300, 10.0), rng.uniform(0, 360, 300), 800 * np.sqrt(rng.random(300))
    )
    return load_view_set(
        make_manifest(
            tmp_path_factory.mktemp("region"), coords=list(zip(lat.tolist(), lon.tolist(), strict=True))
        )
    )


@pytest.mark.parametrize("band,which", [("easy", "views"), ("medium", "regional"), ("hard", "regional")])
def test_bands_hold_for_every_negative(request, tmp_path, band, which):
    views = request.getfixturevalue(which)
    examples, report = build_pairing(views, PairingConfig(band=band), tmp_path)
    check_examples(examples, views)
    assert report.written == len(examples) == 300 - sum(report.shortage.values())
    assert len(examples) >= 100 and {tuple(ex["meta"]["band_km"]) for ex in examples} == {BANDS[band]}
    # shortages are exact: a query is skipped if and only if its band holds fewer than 3 other places
    sat = [v for v in views.views if v.view == "satellite"]
    lat, lon = np.array([v.lat for v in sat]), np.array([v.lon for v in sat])
    lo, hi = BANDS[band]
    enough = {
        v.place
        for i, v in enumerate(sat)
        if (
            ((d := haversine_km(v.lat, v.lon, lat, lon)) >= lo) & (d <= hi) & (np.arange(len(sat)) != i)
        ).sum()
        >= 3
    }
    assert {ex["meta"]["place"] for ex in examples} == enough
    assert {b: len(q) for b, q in report.shortage_queries.items()} == report.shortage


def test_answer_letters_balanced_and_images_match(views, tmp_path):
    examples, _ = build_pairing(views, PairingConfig(band="easy", k=5), tmp_path)
    check_examples(examples, views, k=5)
    counts = Counter(ex["solution"] for ex in examples)
    assert set(counts) == set("ABCDE") and max(counts.values()) - min(counts.values()) <= 1
    ex = examples[0]
    answer = ex["images"][1 + ex["meta"]["answer_index"]]
    assert ex["meta"]["place"] in answer and ex["images"][0].startswith("../")  # relative to the out folder


def test_deterministic_per_seed(views, tmp_path):
    a, _ = build_pairing(views, PairingConfig(seed=7), tmp_path)
    b, _ = build_pairing(views, PairingConfig(seed=7), tmp_path)
    c, _ = build_pairing(views, PairingConfig(seed=8), tmp_path)
    assert a == b and a != c


def test_both_directions(views, tmp_path):
    cfg = PairingConfig(query_view="landcover", candidate_view="satellite", direction="both", band="easy")
    examples, report = build_pairing(views, cfg, tmp_path)
    check_examples(examples, views)
    dirs = Counter(
        (e["meta"]["direction"], e["meta"]["query_view"], e["meta"]["candidate_view"]) for e in examples
    )
    assert (
        dirs[("forward", "landcover", "satellite")] >= 290
        and dirs[("reverse", "satellite", "landcover")] >= 290
    )
    assert report.by_direction == {
        "forward": dirs[("forward", "landcover", "satellite")],
        "reverse": dirs[("reverse", "satellite", "landcover")],
    }
    assert len({e["id"] for e in examples}) == len(examples)


def test_mixed_custom_and_limit(views, tmp_path):
    cfg = PairingConfig(band="mixed", mix={"easy": 3.0, "medium": 1.0}, limit=100)
    examples, report = build_pairing(views, cfg, tmp_path)
    check_examples(examples, views)
    bands = Counter(e["meta"]["band"] for e in examples)
    assert len(examples) == 100 and report.dropped_by_limit > 0
    assert 60 <= bands["easy"] <= 90 and bands["easy"] + bands["medium"] == 100
    custom, _ = build_pairing(views, PairingConfig(min_km=2000, max_km=5000), tmp_path)
    check_examples(custom, views)
    assert {tuple(e["meta"]["band_km"]) for e in custom} == {(2000.0, 5000.0)}
    assert {e["meta"]["band"] for e in custom} == {"custom"}


def test_split_never_leaks_a_place(views, tmp_path):
    assignment = assign_splits(views.views, SplitConfig(by="place", test_fraction=0.3, seed=1))
    seen = {}
    for split in ("train", "test"):
        places = places_in_split(assignment, split)
        examples, report = build_pairing(
            views,
            PairingConfig(band="easy"),
            tmp_path,
            places=places,
            split=split,
        )
        check_examples(examples, views)
        outside = sum(v.view == "satellite" and v.place not in places for v in views.views)
        assert report.outside_split == outside > 0  # the count the build summary prints
        seen[split] = {p for e in examples for p in [e["meta"]["place"], *e["meta"]["candidate_places"]]}
        assert all(e["meta"]["split"] == split for e in examples)
        assert all(assignment[p] == split for p in seen[split])
    assert seen["train"] and seen["test"] and not seen["train"] & seen["test"]
    region = assign_splits(views.views, SplitConfig(by="region", test_fraction=0.3, seed=1, region_deg=30))
    used = [
        {
            p
            for e in build_pairing(
                views, PairingConfig(band="easy"), tmp_path, places=places_in_split(region, s)
            )[0]
            for p in [e["meta"]["place"], *e["meta"]["candidate_places"]]
        }
        for s in ("train", "test")
    ]
    assert used[0] and used[1] and not used[0] & used[1]


def test_antimeridian_distances(tmp_path):
    # a cluster of 12 places within ~60 km of (10, 180) on both sides of the line, plus far places
    lat, lon = destination(
        np.full(12, 10.0), np.full(12, 179.9), np.arange(12) * 30.0, np.linspace(5, 60, 12)
    )
    coords = list(zip(lat.tolist(), lon.tolist(), strict=True)) + [(-40.0, 20.0), (50.0, -100.0), (0.0, 0.0)]
    assert any(lo < 0 for _, lo in coords[:12]) and any(lo > 0 for _, lo in coords[:12])
    views = load_view_set(make_manifest(tmp_path, coords=coords))
    examples, report = build_pairing(views, PairingConfig(band="hard"), tmp_path)
    check_examples(examples, views)
    assert len(examples) == 12 and report.shortage == {"hard": 3}
    for e in examples:
        assert max(e["meta"]["distractor_km"]) < 125  # naive |dlon| would make some ~40,000 km
    crossing = [e for e in examples if len({np.sign(c[1]) for c in e["meta"]["candidate_coords"]}) == 2]
    assert crossing


def test_shortage_is_reported_or_raised(tmp_path):
    views = load_view_set(make_manifest(tmp_path, coords=[(0, 0), (0, 5), (0, 10), (45, 100)]))
    examples, report = build_pairing(views, PairingConfig(band="medium", k=3), tmp_path)
    # (0,5) has (0,0) and (0,10) at ~556 km; the ends each have one neighbour within 1000 km; (45,100) none
    assert [e["meta"]["place"] for e in examples] == ["p0001"]
    assert report.shortage == {"medium": 3} and sorted(report.shortage_queries["medium"]) == [
        "p0000-satellite",
        "p0002-satellite",
        "p0003-satellite",
    ]
    with pytest.raises(ShortageError, match=r"p0000-satellite.*line 1 .*\[100, 1000\] km"):
        build_pairing(views, PairingConfig(band="medium", k=3, strict=True), tmp_path)


def test_config_errors(views, tmp_path):
    for kwargs, msg in [
        ({"band": "medium", "min_km": 5}, "config key 'band': min_km/max_km replace the band"),
        ({"band": "weird"}, "config key 'band': must be one of"),
        ({"min_km": 50, "max_km": 10}, "config key 'min_km': .*min < max"),
        ({"direction": "sideways"}, "config key 'direction'"),
        ({"k": 1}, "config key 'k': must be at least 2"),
        ({"query_view": "terrain"}, "config key 'candidate_view': must differ"),
        ({"band": "mixed", "mix": {"extreme": 1.0}}, "config key 'mix'"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            PairingConfig(**kwargs)
    with pytest.raises(
        ConfigError,
        match=r"config key 'candidate_view': 'street': no view of that kind .*satellite, terrain, landcover",
    ):
        build_pairing(views, PairingConfig(candidate_view="street"), tmp_path)
