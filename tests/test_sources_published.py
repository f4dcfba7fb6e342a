"""Cross-view datasets in the layouts their authors publish: SliceMatch's corrected VIGOR labels and
satellite lists, CVUSA copies with only the training list, University-1652's building KML; all from the
CLI as well as from Python. Label and list lines are real-format lines written here (never downloaded)."""

from __future__ import annotations

import inspect
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.builders.common import load_view_set
from geor1.builders.pairing import PairingConfig, build_pairing
from geor1.cli import build_app
from geor1.commands.data_views import views_command
from geor1.errors import ConfigError
from geor1.records import read_views
from geor1.sources.cvusa import load_cvusa
from geor1.sources.folder import LayoutError, write_manifest
from geor1.sources.registry import SOURCES, source_options
from geor1.sources.university1652 import load_university1652
from geor1.sources.vigor import load_vigor, tile_covers


def make_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "green").save(path)
    return path


def by_id(result) -> dict:
    return {v.id: v for v in result.views}


# ---------------------------------------------------------------- VIGOR, SliceMatch's corrected labels

# Two lines of SliceMatch's splits__corrected/Chicago/same_area_balanced_test__corrected.txt
CHICAGO = [
    "L-1poX8YZAmBZVLMqBu-4w,41.877949,-87.689396,.jpg satellite_41.877971796211014_-87.68943505304125.png "
    "23.0 -29.0 satellite_41.877971796211014_-87.68899446364951.png 20.0 300.0 "
    "satellite_41.877643723758375_-87.68943505304125.png -304.0 -32.0 "
    "satellite_41.877643723758375_-87.68899446364951.png -307.0 297.0",
    "fdbS6SU2YFJSxwxwbNI0CQ,41.882558,-87.686052,.jpg satellite_41.88256481054794_-87.68591033790726.png "
    "6.0 106.0 satellite_41.88256481054794_-87.68635092729902.png 9.0 -223.0 "
    "satellite_41.8822367380953_-87.68591033790726.png -321.0 103.0 "
    "satellite_41.8822367380953_-87.68635092729902.png -319.0 -225.0",
]
# First lines of its satellite_list.txt (tiles of the southern edge of the Chicago grid) plus the tiles above
EXTRA_TILES = [
    "satellite_41.85205407245264_-87.69119741060825.png",
    "satellite_41.85205407245264_-87.6907568212165.png",
]


def slicematch_tree(root: Path, folder: str = "splits__corrected", suffix: str = "__corrected") -> Path:
    """VIGOR images for the two Chicago lines above, labels in SliceMatch's published layout."""
    tiles = set(EXTRA_TILES)
    for line in CHICAGO:
        fields = line.split()
        make_image(root / "Chicago" / "panorama" / fields[0])
        tiles.update(fields[i] for i in (1, 4, 7, 10))
    for tile in tiles:
        make_image(root / "Chicago" / "satellite" / tile)
    labels = root / folder / "Chicago"
    labels.mkdir(parents=True)
    (labels / f"same_area_balanced_test{suffix}.txt").write_text("\n".join(CHICAGO) + "\n")
    (labels / f"same_area_balanced_train{suffix}.txt").write_text(CHICAGO[0] + "\n")
    (labels / "satellite_list.txt").write_text("\n".join(sorted(tiles)) + "\n")
    return root


def test_vigor_detects_slicematch_corrected_labels(tmp_path: Path) -> None:
    root = slicematch_tree(tmp_path / "VIGOR")
    result = load_vigor(root, split="same_area_test", cities=["Chicago"])
    assert result.kinds() == {"street": 2, "satellite": 2} and result.counts == {}
    pano = by_id(result)["vigor/Chicago/panorama/" + CHICAGO[0].split()[0]]
    assert pano.meta["label_file"] == "splits__corrected/Chicago/same_area_balanced_test__corrected.txt"
    assert pano.meta["positive_delta_px"] == [23.0, -29.0] and len(pano.meta["semi_positives"]) == 3
    # the corrected folder renamed to splits/ (as SliceMatch's README suggests), files keep their suffix
    renamed = slicematch_tree(tmp_path / "renamed", folder="splits")
    assert len(load_vigor(renamed, split="same_area_train", cities=["Chicago"]).views) == 2
    # explicit choice from Python
    assert len(load_vigor(root, split="same_area_test", cities=["Chicago"], splits_dir="splits__corrected",
                          label_suffix="__corrected").views) == 4  # fmt: skip


def test_vigor_corrected_labels_win_over_originals_unless_chosen(tmp_path: Path) -> None:
    root = slicematch_tree(tmp_path / "VIGOR")
    (root / "splits" / "Chicago").mkdir(parents=True)
    (root / "splits" / "Chicago" / "same_area_balanced_test.txt").write_text(CHICAGO[1] + "\n")
    assert len(load_vigor(root, split="same_area_test", cities=["Chicago"]).views) == 4
    original = load_vigor(root, split="same_area_test", cities=["Chicago"], splits_dir="splits")
    assert len(original.views) == 2
    assert original.views[0].meta["label_file"] == "splits/Chicago/same_area_balanced_test.txt"


def test_vigor_missing_labels_name_the_folders_looked_in(tmp_path: Path) -> None:
    root = slicematch_tree(tmp_path / "VIGOR")
    with pytest.raises(LayoutError) as info:
        load_vigor(root, split="same_area_test")  # all four cities; only Chicago is here
    message = str(info.value)
    assert message.startswith(
        str(root / "splits__corrected" / "NewYork" / "same_area_balanced_test__corrected.txt")
    )
    assert f"in {root / 'splits__corrected'}/<city>/ and {root / 'splits'}/<city>/;" in message
    assert "same_area_balanced_test.txt or same_area_balanced_test__corrected.txt" in message
    with pytest.raises(LayoutError, match=r"other/Chicago/same_area_balanced_test__corrected\.txt"):
        load_vigor(root, split="same_area_test", cities=["Chicago"], splits_dir="other")
    with pytest.raises(ConfigError, match="config key .split.: .*need a split"):
        load_vigor(root, splits_dir="splits__corrected")
    with pytest.raises(
        ConfigError, match="config key 'max_pair_m': pairs panoramas with tiles by distance, without a split"
    ):
        load_vigor(root, split="same_area_test", cities=["Chicago"], max_pair_m=30)


def test_vigor_satellite_list_makes_every_tile_a_view(tmp_path: Path) -> None:
    root = slicematch_tree(tmp_path / "VIGOR")
    result = load_vigor(root, split="same_area_test", cities=["Chicago"], all_tiles=True)
    assert result.kinds() == {"satellite": 10, "street": 2} and result.counts == {}
    views = by_id(result)
    lonely = views[f"vigor/Chicago/satellite/{EXTRA_TILES[0]}"]
    assert lonely.place == f"vigor/Chicago/{Path(EXTRA_TILES[0]).stem}" and lonely.lat == 41.85205407245264
    # a listed tile missing on disk is a bad row of the list, located by its line
    with (root / "splits__corrected" / "Chicago" / "satellite_list.txt").open("a") as handle:
        handle.write("satellite_41.9_-87.6.png\n")
    result = load_vigor(root, split="same_area_test", cities=["Chicago"], all_tiles=True)
    assert result.counts == {"image file not found": 1}
    assert (Path(result.problems[0].path).name, result.problems[0].line) == ("satellite_list.txt", 11)
    (root / "splits__corrected" / "Chicago" / "satellite_list.txt").unlink()
    with pytest.raises(LayoutError, match=r"Chicago/satellite_list\.txt: VIGOR tile list not found"):
        load_vigor(root, split="same_area_test", cities=["Chicago"], all_tiles=True)


def test_cli_vigor_corrected_labels_all_tiles_and_splits_dir(tmp_path: Path) -> None:
    root = slicematch_tree(tmp_path / "VIGOR")
    out = tmp_path / "views.jsonl"
    base = ["data", "views", "--source", "vigor", "--root", str(root), "--out", str(out), "--city", "Chicago"]
    runner, app = CliRunner(), build_app()
    result = runner.invoke(app, [*base, "--split", "same_area_test", "--all-tiles"])
    assert result.exit_code == 0, result.output
    assert "wrote 12 views of 10 place(s)" in result.output
    result = runner.invoke(
        app, [*base, "--split", "same_area_test", "--splits-dir", "splits", "--label-suffix", ""]
    )
    assert result.exit_code != 0 and "splits/Chicago/same_area_balanced_test.txt" in result.output
    result = runner.invoke(
        app,
        [
            *base,
            "--split",
            "same_area_train",
            "--splits-dir",
            "splits__corrected",
            "--label-suffix",
            "__corrected",
        ],
    )
    assert result.exit_code == 0, result.output
    assert {v.meta.get("label_file") for v in read_views(out) if v.view == "street"} == {
        "splits__corrected/Chicago/same_area_balanced_train__corrected.txt"
    }


# ---------------------------------------------------------------- VIGOR folder mode: covering tiles


def tile(lat: float, lon: float) -> str:
    return f"satellite_{lat}_{lon}.png"


def test_tile_footprint() -> None:
    # Chicago grid spacing 0.00032807 deg lat, 0.00044059 deg lon (~36.5 m): tiles overlap by half
    assert tile_covers(41.87, -87.68, 41.87 + 0.0003, -87.68 + 0.0004)
    assert not tile_covers(41.87, -87.68, 41.87 + 0.0007, -87.68)
    assert not tile_covers(41.87, -87.68, 41.87, -87.68 + 0.0009)


def test_vigor_folder_mode_never_offers_a_covering_tile_as_negative(tmp_path: Path) -> None:
    """A grid of half-overlapping tiles as VIGOR's; every tile covering a panorama is excluded."""
    root = tmp_path / "VIGOR"
    dlat, dlon = 0.00032807, 0.00044059
    lat0, lon0 = 41.852054, -87.691197
    for i in range(6):
        for j in range(6):
            make_image(
                root / "Chicago" / "satellite" / tile(round(lat0 + i * dlat, 8), round(lon0 + j * dlon, 8))
            )
    for i in range(5):
        for j in range(5):  # panoramas between tile centres: each lies inside 4 tiles
            lat, lon = lat0 + (i + 0.4) * dlat, lon0 + (j + 0.6) * dlon
            make_image(root / "Chicago" / "panorama" / f"p{i}{j},{lat:.6f},{lon:.6f},.jpg")
    result = load_vigor(root)
    panos = [v for v in result.views if v.view == "street"]
    assert len(panos) == 25 and all(len(v.meta["semi_positives"]) == 3 for v in panos)
    tiles = {v.place: v for v in result.views if v.view == "satellite"}
    for pano in panos:
        covering = {p for p, t in tiles.items() if tile_covers(t.lat, t.lon, pano.lat, pano.lon)}
        assert len(covering) == 4 and pano.place in covering
        assert {f"vigor/Chicago/{Path(n).stem}" for n in pano.meta["semi_positives"]} == covering - {
            pano.place
        }
    write_manifest(root / "views.jsonl", result.views, result.root)
    views = load_view_set(root / "views.jsonl")
    for direction in ("forward", "both"):
        config = PairingConfig(
            query_view="street", candidate_view="satellite", band="hard", direction=direction
        )
        examples, report = build_pairing(views, config, root)
        assert report.written >= 25
        by_id = {v.id: v for v in views.views}
        panos_by_place = {v.place: v for v in panos}
        checked = 0
        for ex in examples:
            m = ex["meta"]
            query = by_id[m["query_id"]]
            negatives = [p for j, p in enumerate(m["candidate_places"]) if j != m["answer_index"]]
            for negative in negatives:
                if query.view == "street":  # a tile showing the panorama's spot is no negative
                    t = tiles[negative]
                    assert not tile_covers(t.lat, t.lon, query.lat, query.lon), (ex["id"], negative)
                elif negative in panos_by_place:  # nor a panorama standing inside the query tile
                    p = panos_by_place[negative]
                    assert not tile_covers(query.lat, query.lon, p.lat, p.lon), (ex["id"], negative)
                checked += 1
        assert checked >= 3 * report.written


def test_cli_vigor_max_pair_m(tmp_path: Path) -> None:
    root = tmp_path / "VIGOR"
    make_image(root / "Chicago" / "satellite" / tile(41.87, -87.68))
    make_image(root / "Chicago" / "panorama" / "p,41.8702,-87.68,.jpg")  # ~22 m north of the tile centre
    out = tmp_path / "v.jsonl"
    args = ["data", "views", "--source", "vigor", "--root", str(root), "--out", str(out)]
    assert CliRunner().invoke(build_app(), args).exit_code == 0
    assert len({v.place for v in read_views(out)}) == 1
    assert CliRunner().invoke(build_app(), [*args, "--max-pair-m", "10"]).exit_code == 0
    assert len({v.place for v in read_views(out)}) == 2


# ---------------------------------------------------------------- CVUSA with only the training list


def cvusa_tree(root: Path) -> Path:
    for index in (1, 2):
        make_image(root / "bingmap" / "19" / f"{index:07d}.jpg")
        make_image(root / "streetview" / "panos" / f"{index:07d}.jpg")
    (root / "split_locations").mkdir(parents=True)
    (root / "split_locations" / "all.csv").write_text(
        "40.1,-100.1,40.1001,-100.1001,0\n35.5,-90.5,35.5002,-90.5002,0\n"
    )
    (root / "splits").mkdir()
    (root / "splits" / "train-19zl.csv").write_text(
        "bingmap/19/0000002.jpg,streetview/panos/0000002.jpg,streetview/annotations/0000002.png\n"
    )
    return root


def test_cvusa_all_reads_what_is_there(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path)
    result = load_cvusa(root)
    assert len(result.views) == 2
    assert result.notes == [
        f"{root / 'splits' / 'val-19zl.csv'}: CVUSA split list not found; read train-19zl.csv only"
    ]
    assert "val-19zl.csv: CVUSA split list not found" in result.summary()
    with pytest.raises(LayoutError, match=r"val-19zl\.csv: CVUSA split list not found"):
        load_cvusa(root, split="val")
    (root / "splits" / "train-19zl.csv").unlink()
    with pytest.raises(
        LayoutError, match=r"train-19zl\.csv: CVUSA split list not found \(nor .*val-19zl\.csv\)"
    ):
        load_cvusa(root)


def test_cli_cvusa_default_split_with_training_list_only(tmp_path: Path) -> None:
    root = cvusa_tree(tmp_path / "cvusa")
    out = tmp_path / "v.jsonl"
    result = CliRunner().invoke(
        build_app(), ["data", "views", "--source", "cvusa", "--root", str(root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 views" in result.output and "val-19zl.csv: CVUSA split list not found" in result.output


# ---------------------------------------------------------------- University-1652 KML

KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
<Document>
  <name>University-1652</name>
  <Folder>
    <Placemark>
      <name>0001</name>
      <Point><coordinates>114.3555,30.5432,0</coordinates></Point>
    </Placemark>
    <Placemark>
      <name>Main library</name>
      <ExtendedData><Data name="building_id"><value>0002</value></Data></ExtendedData>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>
        121.40,31.00,0 121.42,31.00,0 121.42,31.02,0 121.40,31.02,0 121.40,31.00,0
      </coordinates></LinearRing></outerBoundaryIs></Polygon>
    </Placemark>
    <Placemark>
      <name>839</name>
      <Point><coordinates>151.2,-33.9</coordinates></Point>
    </Placemark>
    <Placemark>
      <name>1500</name>
      <Point><coordinates>north,-33.9</coordinates></Point>
    </Placemark>
  </Folder>
</Document>
</kml>
"""


def university_tree(root: Path) -> Path:
    for building in ("0001", "0002", "0839"):
        for kind, name in (("satellite", f"{building}.jpg"), ("street", "s1.jpg"), ("drone", "image-01.jpeg"),
                           ("google", "g1.png")):  # fmt: skip
            make_image(root / "train" / kind / building / name)
    return root


def test_university1652_reads_building_kml(tmp_path: Path) -> None:
    root = university_tree(tmp_path / "u")
    kml = tmp_path / "buildings.kml"
    kml.write_text(KML)
    result = load_university1652(root, gps=kml)
    views = by_id(result)
    sat = views["university1652/train/satellite/0001/0001.jpg"]
    assert (sat.lat, sat.lon) == (30.5432, 114.3555)  # KML writes lon,lat
    drone = views["university1652/train/drone/0002/image-01.jpeg"]
    assert (round(drone.lat, 6), round(drone.lon, 6)) == (31.01, 121.41)  # mean vertex of the ring
    assert views["university1652/train/street/0839/s1.jpg"].lat == -33.9
    assert result.counts == {"non-numeric coordinate": 1}
    placemark_line = KML.splitlines().index("      <name>1500</name>")  # the line above it, 1-based
    assert (Path(result.problems[0].path).name, result.problems[0].line) == ("buildings.kml", placemark_line)
    # the same file zipped as KMZ, and the CSV route still works
    kmz = tmp_path / "buildings.kmz"
    with zipfile.ZipFile(kmz, "w") as archive:
        archive.writestr("doc.kml", KML)
    assert len(load_university1652(root, gps=kmz).views) == len(result.views)
    csv = tmp_path / "gps.csv"
    csv.write_text("building_id,lat,lon\n1,30.5,114.3\n2,31,121\n839,-33.9,151.2\n")
    assert len(load_university1652(root, gps=csv).views) == len(result.views)


def test_university1652_bad_kml(tmp_path: Path) -> None:
    root = university_tree(tmp_path / "u")
    broken = tmp_path / "broken.kml"
    broken.write_text(KML.replace("</Folder>", ""))
    with pytest.raises(LayoutError, match=r"broken\.kml:\d+: not a well-formed KML file"):
        load_university1652(root, gps=broken)
    empty = tmp_path / "empty.kml"
    empty.write_text('<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>')
    with pytest.raises(LayoutError, match="no Placemark"):
        load_university1652(root, gps=empty)


def test_cli_university1652_kinds_and_kml(tmp_path: Path) -> None:
    root = university_tree(tmp_path / "u")
    kml = tmp_path / "buildings.kml"
    kml.write_text(KML)
    out = tmp_path / "v.jsonl"
    args = [
        "data",
        "views",
        "--source",
        "university1652",
        "--root",
        str(root),
        "--gps",
        str(kml),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(build_app(), [*args, "--kinds", "google", "--kinds", "satellite"])
    assert result.exit_code == 0, result.output
    back = read_views(out)
    assert {(v.view, v.meta.get("source")) for v in back} == {("street", "google"), ("satellite", None)}
    result = CliRunner().invoke(build_app(), [*args, "--kinds", "street,drone"])
    assert result.exit_code == 0 and {v.view for v in read_views(out)} == {"street", "drone"}


def test_cli_takes_every_option_the_readers_take() -> None:
    cli_params = set(inspect.signature(views_command).parameters)
    aliases = {"cities": "city"}
    for source in SOURCES:
        for option in source_options(source):
            assert aliases.get(option, option) in cli_params, (source, option)
