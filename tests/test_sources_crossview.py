"""Real cross-view dataset readers on tiny fake trees in each dataset's exact layout (8x8 images)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.errors import ConfigError, RecordError
from geor1.records import read_views
from geor1.sources.cvcities import load_cvcities
from geor1.sources.cvusa import load_cvusa
from geor1.sources.folder import LayoutError
from geor1.sources.registry import SOURCES, load_views
from geor1.sources.university1652 import load_university1652
from geor1.sources.vigor import load_vigor, parse_panorama_name, parse_satellite_name


def make_image(path: Path, color: str = "green") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def by_id(result) -> dict:
    return {v.id: v for v in result.views}


# ---------------------------------------------------------------- CV-Cities


def cvcities_tree(root: Path) -> Path:
    """Two cities; img_info.csv rows are name, LONGITUDE, LATITUDE, city, sat_dir, pano_dir (no header)."""
    rows = {
        "paris": [("p1", "2.3522", "48.8566"), ("p2", "2.2945", "48.8584")],
        "seattle": [("s1", "-122.3321", "47.6062")],
    }
    for city, entries in rows.items():
        lines = []
        for name, lon, lat in entries:
            make_image(root / city / "satellite" / f"{name}.png")
            make_image(root / city / "panorama" / f"{name}.jpg")
            lines.append(f"{name},{lon},{lat},{city},{city}/satellite/{name}.png,{city}/panorama/{name}.jpg")
        (root / city / "img_info.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_cvcities_reads_longitude_before_latitude(tmp_path: Path) -> None:
    result = load_cvcities(cvcities_tree(tmp_path))
    views = by_id(result)
    assert len(views) == 6 and result.counts == {}
    street, sat = views["cvcities/paris/p1/street"], views["cvcities/paris/p1/satellite"]
    assert (street.lat, street.lon) == (48.8566, 2.3522)
    assert (sat.lat, sat.lon) == (48.8566, 2.3522)
    assert street.place == sat.place == "cvcities/paris/p1"
    assert (street.view, sat.view) == ("street", "satellite")
    assert street.image == "paris/panorama/p1.jpg" and sat.image == "paris/satellite/p1.png"
    assert street.meta["panorama"] is True and street.meta["city"] == "paris"
    seattle = views["cvcities/seattle/s1/street"]
    assert (seattle.lat, seattle.lon) == (47.6062, -122.3321)  # swapped it would be out of range
    assert result.kinds() == {"street": 3, "satellite": 3}


def test_cvcities_bad_rows_drop_the_whole_pair(tmp_path: Path) -> None:
    root = cvcities_tree(tmp_path)
    info = root / "paris" / "img_info.csv"
    with info.open("a", encoding="utf-8") as handle:
        handle.write("p3,2.1,48.1,paris,paris/satellite/missing.png,paris/panorama/p1.jpg\n")  # line 3
        handle.write("p4,48.1,2.1,paris,paris/satellite/p1.png,paris/panorama/p1.jpg\n")  # fine: lat 2.1
        handle.write("p5,2.1,148.1,paris,paris/satellite/p1.png,paris/panorama/p1.jpg\n")  # line 5: lat 148
        handle.write("p6,2.1,48.1,paris\n")  # line 6: too few columns
        handle.write("p7,2.1,48.1,paris,../x.png,paris/panorama/p1.jpg\n")  # line 7
    result = load_cvcities(root, cities=["paris"])
    ids = set(by_id(result))
    assert "cvcities/paris/p3/street" not in ids and "cvcities/paris/p3/satellite" not in ids
    assert "cvcities/paris/p4/street" in ids
    assert [(p.line, p.field) for p in result.problems] == [(3, "image"), (5, "lat"), (6, None), (7, "image")]
    assert all(p.path == str(info) for p in result.problems)
    assert result.counts == {
        "image file not found": 1,
        "coordinate out of range": 1,
        "malformed row": 1,
        "image path escapes root": 1,
    }
    with pytest.raises(RecordError, match=r"paris/img_info\.csv:3 field 'image'"):
        load_cvcities(root, cities=["paris"], strict=True)


def test_cvcities_city_relative_paths_and_missing_layout(tmp_path: Path) -> None:
    make_image(tmp_path / "tokyo" / "sat" / "t1.png")
    make_image(tmp_path / "tokyo" / "pano" / "t1.jpg")
    (tmp_path / "tokyo" / "img_info.csv").write_text("t1,139.69,35.68,tokyo,sat/t1.png,pano/t1.jpg\n")
    (view,) = [v for v in load_cvcities(tmp_path).views if v.view == "street"]
    assert view.image == "tokyo/pano/t1.jpg" and (view.lat, view.lon) == (35.68, 139.69)
    with pytest.raises(LayoutError, match=r"rome/img_info\.csv: file not found"):
        load_cvcities(tmp_path, cities=["rome"])
    with pytest.raises(LayoutError, match="no city folder with img_info.csv"):
        load_cvcities(tmp_path / "tokyo")


def test_cvcities_verify_images_drops_pair_with_corrupt_tile(tmp_path: Path) -> None:
    root = cvcities_tree(tmp_path)
    (root / "paris" / "satellite" / "p2.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = load_cvcities(root, verify_images=True)
    assert "cvcities/paris/p2/street" not in by_id(result)
    assert result.counts == {"unreadable image": 1}
    assert result.problems[0].line == 2


# ---------------------------------------------------------------- VIGOR

PANO_A = "-0YkKMiMpJ6rP4DMqcy_Lg,40.746437,-73.992066,.jpg"
PANO_B = "abc_DEF-123,40.746500,-73.992000,.jpg"
SAT_A = "satellite_40.7464500_-73.9920500.png"
SAT_SEMI = [
    "satellite_40.7467_-73.9920.png",
    "satellite_40.7464_-73.9924.png",
    "satellite_40.7467_-73.9924.png",
]
PANO_SF = "sf1,37.7749,-122.4194,.jpg"
SAT_SF = "satellite_37.77490_-122.41940.png"


def vigor_line(pano: str, sat: str) -> str:
    offsets = ["12.5", "-3.0"]
    semi = [f"{s} 100.0 -200.0" for s in SAT_SEMI]
    return " ".join([pano, sat, *offsets, *semi])


def vigor_tree(root: Path, layout: str = "original") -> Path:
    def folders(city: str) -> tuple[Path, Path]:
        if layout == "original":
            return root / city / "panorama", root / city / "satellite"
        return root / "ground" / city, root / "satellite" / city

    pano_dir, sat_dir = folders("NewYork")
    for name in (PANO_A, PANO_B):
        make_image(pano_dir / name)
    for name in (SAT_A, *SAT_SEMI):
        make_image(sat_dir / name)
    pano_dir, sat_dir = folders("SanFrancisco")
    make_image(pano_dir / PANO_SF)
    make_image(sat_dir / SAT_SF)
    for city, lines in {
        "NewYork": [vigor_line(PANO_A, SAT_A), vigor_line(PANO_B, SAT_A)],
        "SanFrancisco": [vigor_line(PANO_SF, SAT_SF)],
    }.items():
        splits = root / "splits" / city
        splits.mkdir(parents=True, exist_ok=True)
        (splits / "same_area_balanced_train.txt").write_text("\n".join(lines) + "\n")
        (splits / "same_area_balanced_test.txt").write_text("")
        (splits / "pano_label_balanced.txt").write_text("\n".join(lines) + "\n")
    return root


def test_vigor_names_carry_gps() -> None:
    assert parse_panorama_name(PANO_A) == ("40.746437", "-73.992066")
    assert parse_satellite_name(SAT_A) == ("40.7464500", "-73.9920500")
    with pytest.raises(ValueError):
        parse_panorama_name("nogps.jpg")


def test_vigor_same_area_split_pairs_panorama_with_positive_tile(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path)
    result = load_vigor(root, split="same_area_train", cities=["NewYork"])
    views = by_id(result)
    assert result.kinds() == {"street": 2, "satellite": 1}  # the shared positive tile is written once
    a = views[f"vigor/NewYork/panorama/{PANO_A}"]
    sat = views[f"vigor/NewYork/satellite/{SAT_A}"]
    b = views[f"vigor/NewYork/panorama/{PANO_B}"]
    assert a.place == b.place == sat.place == "vigor/NewYork/satellite_40.7464500_-73.9920500"
    assert (a.lat, a.lon) == (40.746437, -73.992066) and (sat.lat, sat.lon) == (40.74645, -73.99205)
    assert a.image == f"NewYork/panorama/{PANO_A}" and sat.image == f"NewYork/satellite/{SAT_A}"
    assert a.meta["positive_delta_px"] == [12.5, -3.0] and a.meta["semi_positives"] == SAT_SEMI
    assert (a.view, sat.view) == ("street", "satellite")


def test_vigor_cross_area_uses_protocol_cities(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path)
    with pytest.raises(LayoutError, match=r"Seattle/pano_label_balanced\.txt"):
        load_vigor(root, split="cross_area_train")  # NewYork + Seattle; Seattle is absent here
    with pytest.raises(LayoutError, match=r"splits/Chicago/pano_label_balanced\.txt"):
        load_vigor(root, split="cross_area_test")
    result = load_vigor(root, split="cross_area_test", cities=["SanFrancisco"])
    assert {v.meta["city"] for v in result.views} == {"SanFrancisco"} and len(result.views) == 2
    with pytest.raises(ConfigError, match="config key .split.: unknown VIGOR split"):
        load_vigor(root, split="train")


def test_vigor_bad_label_lines(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path)
    label = root / "splits" / "NewYork" / "same_area_balanced_train.txt"
    with label.open("a") as handle:
        handle.write("nogps.jpg " + SAT_A + "\n")  # line 3
        handle.write(vigor_line("gone,40.7,-73.9,.jpg", SAT_A) + "\n")  # line 4: no such image
        handle.write("lonely.jpg\n")  # line 5
    result = load_vigor(root, split="same_area_train", cities=["NewYork"])
    assert len(result.views) == 3
    assert [p.line for p in result.problems] == [3, 4, 5]
    assert result.counts == {"no GPS in file name": 1, "image file not found": 1, "malformed row": 1}
    with pytest.raises(RecordError, match=r"same_area_balanced_train\.txt:3"):
        load_vigor(root, split="same_area_train", cities=["NewYork"], strict=True)


def test_vigor_without_splits_pairs_nearest_tile(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path)
    result = load_vigor(root)
    views = by_id(result)
    assert result.kinds() == {"satellite": 5, "street": 3}
    a = views[f"vigor/NewYork/panorama/{PANO_A}"]
    assert a.place == "vigor/NewYork/satellite_40.7464500_-73.9920500"
    assert 0 < a.meta["positive_distance_m"] < 10
    assert (
        views[f"vigor/SanFrancisco/panorama/{PANO_SF}"].place
        == "vigor/SanFrancisco/satellite_37.77490_-122.41940"
    )
    # A panorama far from every tile keeps its own place.
    make_image(root / "NewYork" / "panorama" / "far,41.0,-73.0,.jpg")
    far = by_id(load_vigor(root, cities=["NewYork"]))["vigor/NewYork/panorama/far,41.0,-73.0,.jpg"]
    assert far.place == "vigor/NewYork/far,41.0,-73.0,.jpg" and "positive_distance_m" not in far.meta


def test_vigor_sample4geo_layout(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path, layout="sample4geo")
    result = load_vigor(root, split="same_area_train", cities=["NewYork"])
    a = by_id(result)[f"vigor/NewYork/panorama/{PANO_A}"]
    assert a.image == f"ground/NewYork/{PANO_A}"
    assert by_id(result)[f"vigor/NewYork/satellite/{SAT_A}"].image == f"satellite/NewYork/{SAT_A}"
    assert load_vigor(root).kinds() == {"satellite": 5, "street": 3}


# ---------------------------------------------------------------- CVUSA

# all.csv line N = image index N: sat_lat, sat_lon, ground_lat, ground_lon, unused
LOCATIONS = [
    "40.1,-100.1,40.1001,-100.1001,0",
    "35.5,-90.5,35.5002,-90.5002,0",
    "45.0,-120.0,45.0003,-120.0003,0",
    "north,-80,30,-80,0",
]


def cvusa_tree(root: Path) -> Path:
    for index in (1, 2, 3, 4):
        make_image(root / "bingmap" / "19" / f"{index:07d}.jpg")
        make_image(root / "streetview" / "panos" / f"{index:07d}.jpg")
    (root / "split_locations").mkdir(parents=True)
    (root / "split_locations" / "all.csv").write_text("\n".join(LOCATIONS) + "\n")
    (root / "splits").mkdir()

    def row(i: int) -> str:
        return f"bingmap/19/{i:07d}.jpg,streetview/panos/{i:07d}.jpg,streetview/annotations/{i:07d}.png"

    (root / "splits" / "train-19zl.csv").write_text(f"{row(2)}\n{row(3)}\n")
    (root / "splits" / "val-19zl.csv").write_text(f"{row(1)}\n")
    return root


def test_cvusa_joins_coordinates_by_image_index(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path)
    result = load_cvusa(root, split="train")
    views = by_id(result)
    assert set(views) == {
        "cvusa/0000002/street",
        "cvusa/0000002/satellite",
        "cvusa/0000003/street",
        "cvusa/0000003/satellite",
    }
    street, sat = views["cvusa/0000002/street"], views["cvusa/0000002/satellite"]
    assert (street.lat, street.lon) == (35.5002, -90.5002)  # ground_lat, ground_lon
    assert (sat.lat, sat.lon) == (35.5, -90.5)  # sat_lat, sat_lon
    assert street.place == sat.place == "cvusa/0000002"
    assert street.image == "streetview/panos/0000002.jpg" and sat.image == "bingmap/19/0000002.jpg"
    assert (
        street.meta["annotation"] == "streetview/annotations/0000002.png"
        and street.meta["split"] == "train-19zl"
    )
    val = load_cvusa(root, split="val")
    assert {v.place for v in val.views} == {"cvusa/0000001"}
    assert load_cvusa(root, split="test").kinds() == val.kinds()
    assert len(load_cvusa(root).views) == 6


def test_cvusa_bad_rows_name_the_right_file(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path)
    train = root / "splits" / "train-19zl.csv"
    with train.open("a") as handle:
        handle.write("bingmap/19/0000009.jpg,streetview/panos/0000009.jpg\n")  # line 3: no location row
        handle.write("bingmap/19/0000004.jpg,streetview/panos/0000004.jpg\n")  # line 4: all.csv:4 bad lat
        handle.write("bingmap/19/0000001.jpg,streetview/panos/0000002.jpg\n")  # line 5: numbers differ
        handle.write("bingmap/19/tile.jpg,streetview/panos/0000002.jpg\n")  # line 6: no number
    result = load_cvusa(root, split="train")
    assert len(result.views) == 4
    located = [(Path(p.path).name, p.line) for p in result.problems]
    assert located == [("train-19zl.csv", 3), ("all.csv", 4), ("train-19zl.csv", 5), ("train-19zl.csv", 6)]
    assert str(result.problems[1]).startswith(
        f"{root / 'split_locations' / 'all.csv'}:4 field 'lat': not a number"
    )
    assert result.counts == {
        "no location": 1,
        "non-numeric coordinate": 1,
        "malformed row": 1,
        "no image index": 1,
    }


def test_cvusa_blank_line_in_locations_keeps_later_lines_in_place(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path)
    # all.csv with a blank line 2: image 3 sits on line 3, image 4 on line 4, image 2 has no location
    (root / "split_locations" / "all.csv").write_text("\n".join([LOCATIONS[0], "", *LOCATIONS[2:]]) + "\n")
    result = load_cvusa(root, split="train")  # images 2 and 3
    views = by_id(result)
    assert set(views) == {"cvusa/0000003/street", "cvusa/0000003/satellite"}
    assert (views["cvusa/0000003/street"].lat, views["cvusa/0000003/street"].lon) == (45.0003, -120.0003)
    assert result.counts == {"no location": 1}
    assert "line 2 of" in str(result.problems[0]) and result.problems[0].line == 1


def test_cvusa_missing_files(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path)
    (root / "split_locations" / "all.csv").unlink()
    with pytest.raises(LayoutError, match=r"split_locations/all\.csv: CVUSA file not found"):
        load_cvusa(root)
    with pytest.raises(ConfigError, match="config key .split.: unknown CVUSA split"):
        load_cvusa(root, split="dev")


# ---------------------------------------------------------------- University-1652


def university_tree(root: Path) -> Path:
    for building in ("0001", "0002", "0839"):
        make_image(root / "train" / "satellite" / building / f"{building}.jpg")
        make_image(root / "train" / "street" / building / "s1.jpg")
        make_image(root / "train" / "drone" / building / "image-01.jpeg")
        make_image(root / "train" / "drone" / building / "image-02.jpeg")
        make_image(root / "train" / "google" / building / "g1.png")
    for folder in ("query_drone", "gallery_satellite"):
        make_image(root / "test" / folder / "1500" / "x.jpg")
    return root


def write_gps(path: Path, rows: list[str], header: bool = True) -> Path:
    path.write_text("\n".join((["building_id,lat,lon"] if header else []) + rows) + "\n")
    return path


def test_university1652_views_share_building_place(tmp_path: Path) -> None:
    root = university_tree(tmp_path)
    gps = write_gps(tmp_path / "gps.csv", ["1,30.5,114.3", "0002,31.0,121.4", "839,-33.9,151.2", "1500,1,2"])
    result = load_university1652(root, gps=gps)
    assert result.counts == {}
    assert result.kinds() == {"drone": 6, "satellite": 3, "street": 3}  # google is opt-in
    views = by_id(result)
    sat = views["university1652/train/satellite/0001/0001.jpg"]
    drone = views["university1652/train/drone/0001/image-02.jpeg"]
    assert sat.place == drone.place == "university1652/0001"
    assert (drone.lat, drone.lon) == (30.5, 114.3) and drone.image == "train/drone/0001/image-02.jpeg"
    assert views["university1652/train/street/0839/s1.jpg"].lat == -33.9
    google = load_university1652(root, gps=gps, kinds=["google"])
    assert {(v.view, v.meta["source"]) for v in google.views} == {("street", "google")}
    test = load_university1652(root, gps=gps, split="test")
    assert {(v.view, v.meta["role"]) for v in test.views} == {("drone", "query"), ("satellite", "gallery")}


def test_university1652_buildings_without_gps_are_reported(tmp_path: Path) -> None:
    root = university_tree(tmp_path)
    gps = write_gps(tmp_path / "gps.csv", ["1,30.5,114.3", "2,91,121.4"], header=False)
    result = load_university1652(root, gps=gps)
    assert {v.place for v in result.views} == {"university1652/0001"}
    assert result.counts == {"coordinate out of range": 1, "building without GPS": 2}
    assert (Path(result.problems[0].path).name, result.problems[0].line) == ("gps.csv", 2)
    missing = [str(p) for p in result.problems[1:]]
    assert "building 0002 has no row in the GPS file" in missing[0]
    assert "skipped its 4 image(s) in train/satellite/0002, train/street/0002, train/drone/0002" in missing[0]
    assert "building 0839" in missing[1]
    with pytest.raises(RecordError, match="coordinate|out of range"):
        load_university1652(root, gps=gps, strict=True)
    gps_ok_but_short = write_gps(tmp_path / "gps2.csv", ["1,30.5,114.3"])
    with pytest.raises(RecordError, match="building 0002 has no row"):
        load_university1652(root, gps=gps_ok_but_short, strict=True)


def test_university1652_layout_errors(tmp_path: Path) -> None:
    root = university_tree(tmp_path)
    gps = write_gps(tmp_path / "gps.csv", ["1,30.5,114.3"])
    with pytest.raises(LayoutError, match="pass a GPS file"):
        load_university1652(root)
    with pytest.raises(LayoutError, match="GPS file not found"):
        load_university1652(root, gps=tmp_path / "none.csv")
    with pytest.raises(LayoutError, match=r"no folder for kind 'street'"):
        load_university1652(root, gps=gps, split="test", kinds=["street"])
    with pytest.raises(LayoutError, match="split folder not found"):
        load_university1652(tmp_path / "train", gps=gps)


# ---------------------------------------------------------------- registry and CLI


def test_registry_dispatches_and_checks_options(tmp_path: Path) -> None:
    assert set(SOURCES) == {"manifest", "vigor", "cvusa", "cvcities", "university1652"}
    root = cvcities_tree(tmp_path)
    assert len(load_views("cvcities", root).views) == 6
    with pytest.raises(ConfigError, match="does not take this option"):
        load_views("cvcities", root, gps="x.csv")
    with pytest.raises(ConfigError, match="unknown view source"):
        load_views("kitti", root)
    with pytest.raises(ConfigError, match="needs the dataset root"):
        load_views("vigor", None)


def test_cli_cvusa_and_university(tmp_path: Path) -> None:
    runner, app = CliRunner(), build_app()
    root = cvusa_tree(tmp_path / "cvusa")
    out = tmp_path / "cvusa_views.jsonl"
    result = runner.invoke(
        app,
        ["data", "views", "--source", "cvusa", "--root", str(root), "--split", "train", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 views of 2 place(s)" in result.output and "street: 2, satellite: 2" in result.output
    back = read_views(out)
    assert back[0].image == "cvusa/streetview/panos/0000002.jpg" and (out.parent / back[0].image).is_file()

    uni = university_tree(tmp_path / "u1652")
    gps = write_gps(tmp_path / "gps.csv", ["1,30.5,114.3"])
    out = uni / "views.jsonl"
    args = [
        "data",
        "views",
        "--source",
        "university1652",
        "--root",
        str(uni),
        "--gps",
        str(gps),
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "building 0002 has no row in the GPS file" in result.output
        and "building without GPS: 2" in result.output
    )
    result = runner.invoke(app, [*args, "--strict"])
    assert result.exit_code == 2 and "building 0002 has no row" in result.output


def test_cli_vigor_split_with_city_subset(tmp_path: Path) -> None:
    root = vigor_tree(tmp_path / "VIGOR")
    out = tmp_path / "views.jsonl"
    args = [
        "data",
        "views",
        "--source",
        "vigor",
        "--root",
        str(root),
        "--split",
        "same_area_train",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 2 and "pass cities=/--city" in result.output and not out.exists()
    result = CliRunner().invoke(build_app(), [*args, "--city", "NewYork", "--city", "SanFrancisco"])
    assert result.exit_code == 0, result.output
    assert "wrote 5 views of 2 place(s)" in result.output and "no bad rows" in result.output
    assert {v.meta["city"] for v in read_views(out)} == {"NewYork", "SanFrancisco"}
