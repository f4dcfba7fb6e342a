"""Generic view manifest (CSV/JSONL/Parquet): good rows, every bad-row case located by file:line, strict vs
default, image verification, normalized output with relocated paths, and the ``geo-r1 data views`` CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from geor1.cli import build_app
from geor1.errors import GeoR1Error, RecordError
from geor1.records import read_views
from geor1.sources.folder import RowError, load_manifest, manifest_prefix, write_manifest

HEADER = "id,image,lat,lon,view,note"


def make_image(path: Path, color: str = "red") -> Path:
    """Write an 8x8 image (format from the suffix) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    """A root folder with two good images, a corrupt one and a truncated PNG."""
    make_image(tmp_path / "img" / "a.png")
    make_image(tmp_path / "img" / "b.jpg", "blue")
    (tmp_path / "img" / "corrupt.png").write_bytes(os.urandom(200))
    full = (tmp_path / "img" / "a.png").read_bytes()
    (tmp_path / "img" / "truncated.png").write_bytes(full[: len(full) // 2])
    return tmp_path


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "a,img/a.png,48.8566,2.3522,street,paris"


def test_csv_good_rows_become_views(images: Path) -> None:
    manifest = write_csv(
        images / "m.csv",
        [GOOD, "b,img/b.jpg,-33.86,151.21,satellite,"],
        header=HEADER,
    )
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a", "b"]
    a, b = result.views
    assert (a.lat, a.lon, a.view, a.image) == (48.8566, 2.3522, "street", "img/a.png")
    assert a.meta == {"note": "paris"} and a.place == "a"
    assert b.meta == {}  # empty extra cells are left out
    assert result.counts == {} and result.rows == 2
    assert result.kinds() == {"street": 1, "satellite": 1}


def test_csv_place_and_json_meta_column(images: Path) -> None:
    manifest = images / "m.csv"
    manifest.write_text(
        'id,image,lat,lon,view,place,meta,city\na,img/a.png,1,2,street,p1,"{""k"": 3}",Paris\n',
        encoding="utf-8",
    )
    (view,) = load_manifest(manifest).views
    assert view.place == "p1"
    assert view.meta == {"city": "Paris", "k": 3}


# (row text, reason counted, field named); the bad row is data row 2, i.e. physical line 3.
BAD_ROWS = [
    ("c,img/a.png,10,20,,x", "missing value", "view"),
    ("c,,10,20,street,x", "missing value", "image"),
    (",img/a.png,10,20,street,x", "missing value", "id"),
    ("c,img/a.png,north,20,street,x", "non-numeric coordinate", "lat"),
    ("c,img/a.png,10,,street,x", "missing value", "lon"),
    ("c,img/a.png,nan,20,street,x", "NaN or infinite coordinate", "lat"),
    ("c,img/a.png,10,200.5,street,x", "coordinate out of range", "lon"),
    ("c,img/a.png,-91,20,street,x", "coordinate out of range", "lat"),
    ("c,img/missing.png,10,20,street,x", "image file not found", "image"),
    ("c,../outside.png,10,20,street,x", "image path escapes root", "image"),
    ("c,img/../../outside.png,10,20,street,x", "image path escapes root", "image"),
    ("c,/etc/passwd,10,20,street,x", "image path escapes root", "image"),
    ("c,C:/data/a.png,10,20,street,x", "image path escapes root", "image"),
    ("a,img/b.jpg,10,20,street,x", "duplicate id", "id"),
]


@pytest.mark.parametrize(("row", "reason", "field"), BAD_ROWS)
def test_csv_bad_row_is_skipped_and_located(images: Path, row: str, reason: str, field: str) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, row, "d,img/b.jpg,1,1,satellite,y"])
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a", "d"]
    assert result.counts == {reason: 1}
    (problem,) = result.problems
    assert str(problem).startswith(f"{manifest}:3 field '{field}'")
    assert (problem.line, problem.field) == (3, field)


@pytest.mark.parametrize(("row", "reason", "field"), BAD_ROWS)
def test_csv_bad_row_raises_when_strict(images: Path, row: str, reason: str, field: str) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, row])
    with pytest.raises(RecordError) as info:
        load_manifest(manifest, strict=True)
    assert str(info.value).startswith(f"{manifest}:3 field '{field}'")


def test_missing_column_is_fatal_even_by_default(images: Path) -> None:
    manifest = write_csv(images / "m.csv", ["a,img/a.png,1,street"], header="id,image,lat,view")
    with pytest.raises(RecordError) as info:
        load_manifest(manifest)
    message = str(info.value)
    assert message.startswith(f"{manifest}:1 field 'lon'")
    assert "missing required column(s) lon" in message


def test_empty_csv_reports_missing_columns(images: Path) -> None:
    manifest = images / "m.csv"
    manifest.write_text("", encoding="utf-8")
    with pytest.raises(RecordError, match="missing required column"):
        load_manifest(manifest)


def test_csv_lines_are_physical_lines(images: Path) -> None:
    # A quoted cell spanning two lines and a blank line shift the physical line of the later bad row.
    manifest = images / "m.csv"
    manifest.write_text(
        f'{HEADER}\na,img/a.png,1,2,street,"two\nlines"\n\nb,img/a.png,x,2,street,\nc,img/a.png,1,2,street,too,many\n',
        encoding="utf-8",
    )
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a"]
    assert result.views[0].meta == {"note": "two\nlines"}
    assert [p.line for p in result.problems] == [5, 6]
    assert result.counts == {"non-numeric coordinate": 1, "malformed row": 1}


def test_summary_counts_reasons_and_lists_first_messages(images: Path) -> None:
    rows = [f"m{i},img/missing{i}.png,1,2,street," for i in range(12)] + [GOOD]
    manifest = write_csv(images / "m.csv", rows)
    result = load_manifest(manifest)
    assert result.counts == {"image file not found": 12} and result.skipped == 12
    summary = result.summary(limit=10)
    assert "skipped 12 bad row(s) of 13 (image file not found: 12)" in summary
    assert f"{manifest}:2 field 'image'" in summary and f"{manifest}:11 field 'image'" in summary
    assert f"{manifest}:12 " not in summary and "… and 2 more" in summary


@pytest.mark.parametrize("name", ["corrupt.png", "truncated.png"])
def test_verify_images_catches_corrupt_files(images: Path, name: str) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, f"c,img/{name},1,2,street,"])
    assert len(load_manifest(manifest).views) == 2  # exists: not decoded without verification
    result = load_manifest(manifest, verify_images=True)
    assert [v.id for v in result.views] == ["a"]
    assert result.counts == {"unreadable image": 1}
    assert str(result.problems[0]).startswith(f"{manifest}:3 field 'image': img/{name}: unreadable image")
    with pytest.raises(RecordError, match=rf"m\.csv:3 field 'image': img/{name}"):
        load_manifest(manifest, strict=True, verify_images=True)


def test_jsonl_manifest_with_meta_object_and_bad_lines(images: Path) -> None:
    manifest = images / "m.jsonl"
    lines = [
        json.dumps(
            {
                "id": "a",
                "image": "img/a.png",
                "lat": 1.5,
                "lon": 2,
                "view": "street",
                "meta": {"k": 1},
                "x": 2,
            }
        ),
        "",
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": "b", "image": "img/b.jpg", "lat": None, "lon": 2, "view": "satellite"}),
        json.dumps({"id": "c", "image": "img/b.jpg", "lat": "1e3", "lon": 2, "view": "satellite"}),
        json.dumps({"id": "d", "image": "img/b.jpg", "lat": 1, "lon": 2, "view": "satellite", "meta": [1]}),
        json.dumps({"id": "e", "image": "img/b.jpg", "lat": 1, "lon": 2, "view": "satellite", "place": "p"}),
    ]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a", "e"]
    assert result.views[0].meta == {"x": 2, "k": 1} and result.views[1].place == "p"
    assert [(p.line, p.field) for p in result.problems] == [
        (3, None),
        (4, None),
        (5, "lat"),
        (6, "lat"),
        (7, "meta"),
    ]
    assert result.counts == {
        "invalid JSON": 2,
        "missing value": 1,
        "coordinate out of range": 1,
        "bad meta": 1,
    }
    with pytest.raises(RecordError, match=r"m\.jsonl:3: invalid JSON"):
        load_manifest(manifest, strict=True)


def test_parquet_manifest_reports_row_index(images: Path) -> None:
    manifest = images / "m.parquet"
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "image": ["img/a.png", "img/b.jpg", "img/nope.png"],
            "lat": [1.0, float("nan"), 3.0],
            "lon": [2.0, 2.0, 2.0],
            "view": ["street", "satellite", "street"],
            "city": ["x", "y", None],
        }
    )
    frame.to_parquet(manifest)
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a"] and result.views[0].meta == {"city": "x"}
    assert [(p.row, p.field) for p in result.problems] == [(1, "lat"), (2, "image")]
    assert all(p.path == str(manifest) for p in result.problems)
    assert [str(p) for p in result.problems] == [
        f"{manifest} row 1 field 'lat': missing required field",
        f"{manifest} row 2 field 'image': image file not found: img/nope.png (under {images})",
    ]
    with pytest.raises(RowError, match=r"m\.parquet row 1 field 'lat'"):
        load_manifest(manifest, strict=True)
    frame.drop(columns=["view"]).to_parquet(manifest)
    with pytest.raises(RecordError, match=r"missing required column\(s\) view"):
        load_manifest(manifest)


def test_root_option_and_unknown_format(images: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    manifest = write_csv(elsewhere / "m.csv", ["a,a.png,1,2,street,"])
    assert load_manifest(manifest).counts == {"image file not found": 1}
    result = load_manifest(manifest, root=images / "img")
    assert [v.image for v in result.views] == ["a.png"] and result.root == images / "img"
    with pytest.raises(GeoR1Error, match="unknown manifest format"):
        load_manifest(elsewhere / "m.txt")
    with pytest.raises(GeoR1Error, match="manifest file not found"):
        load_manifest(elsewhere / "absent.csv")


def test_write_manifest_rewrites_paths_relative_to_its_folder(images: Path) -> None:
    root = images / "img"
    inner = write_csv(root / "m.csv", ["a,a.png,1,2,street,", "b,b.jpg,3,4,satellite,"])
    result = load_manifest(inner)
    # Beside the images: unchanged paths.
    assert write_manifest(root / "same.jsonl", result.views, root) == 2
    assert [v.image for v in read_views(root / "same.jsonl")] == ["a.png", "b.jpg"]
    # In a parent folder: paths gain the root's relative prefix and still resolve.
    out = images / "out.jsonl"
    write_manifest(out, result.views, root)
    back = read_views(out)
    assert [v.image for v in back] == ["img/a.png", "img/b.jpg"]
    assert all((out.parent / v.image).is_file() for v in back)
    assert load_manifest(out).counts == {}  # the written manifest reads back cleanly
    # Beside, not above, the images: each line records the root (absolute), paths stay root-relative.
    sibling = images / "other" / "views.jsonl"
    write_manifest(sibling, result.views, root)
    lines = [json.loads(line) for line in sibling.read_text().splitlines()]
    assert [(d["root"], d["image"]) for d in lines] == [(str(root), "a.png"), (str(root), "b.jpg")]
    outside = load_manifest(sibling)  # its rows' root lies outside the manifest's folder: refused
    assert outside.counts == {"root escapes image root": 2} and not outside.views
    again = load_manifest(sibling, root=images)  # reads back cleanly, and rewrites back to the plain layout
    assert again.counts == {} and {v.root for v in again.views} == {str(root)}
    write_manifest(root / "back.jsonl", again.views, again.root)
    assert [v.to_dict() for v in read_views(root / "back.jsonl")] == [
        v.to_dict() for v in read_views(root / "same.jsonl")
    ]
    assert str(manifest_prefix(images / "x" / "y" / "m.jsonl", images / "x" / "y" / "z")) == "z"
    assert manifest_prefix(images / "x" / "m.jsonl", images / "y") is None


def run_cli(*args: str):
    return CliRunner().invoke(build_app(), ["data", "views", *args])


def test_cli_manifest_writes_views_and_reports_bad_rows(images: Path) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, "b,img/b.jpg,1,1,satellite,", "c,img/gone.png,1,2,street,"])
    out = images / "views.jsonl"
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 2 views of 2 place(s)" in result.output and "street: 1" in result.output
    assert "satellite: 1" in result.output
    assert f"{manifest}:4 field 'image': image file not found" in result.output
    assert [v.id for v in read_views(out)] == ["a", "b"]


def test_cli_strict_failure_leaves_output_untouched(images: Path) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, "c,img/a.png,95,2,street,"])
    out = images / "views.jsonl"
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out), "--strict")
    assert result.exit_code == 2
    assert f"{manifest}:3 field 'lat': out of range" in result.output
    assert not out.exists()
    out.write_text("previous\n", encoding="utf-8")
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out), "--strict")
    assert result.exit_code == 2 and out.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in images.iterdir() if p.name.startswith(".views")] == []  # no temp file left


def test_cli_corrupt_image_with_verification(images: Path) -> None:
    manifest = write_csv(images / "m.csv", [GOOD, "c,img/truncated.png,1,2,street,"])
    out = images / "views.jsonl"
    result = run_cli(
        "--source", "manifest", "--manifest", str(manifest), "--out", str(out), "--verify-images"
    )
    assert result.exit_code == 0, result.output
    assert "unreadable image: 1" in result.output and [v.id for v in read_views(out)] == ["a"]


def test_cli_rejects_bad_arguments(images: Path) -> None:
    manifest = write_csv(images / "m.csv", [GOOD])
    out = images / "views.jsonl"
    assert run_cli("--source", "nope", "--root", str(images), "--out", str(out)).exit_code != 0
    result = run_cli("--source", "manifest", "--out", str(out))
    assert result.exit_code == 2 and "needs the manifest file" in result.output
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--gps", "x.csv", "--out", str(out))
    assert result.exit_code == 2 and "does not take this option" in result.output
    result = run_cli(
        "--source", "manifest", "--manifest", str(manifest), "--out", str(images / "img" / "v.jsonl")
    )  # below the root: the manifest records its root instead of failing
    assert result.exit_code == 0 and read_views(images / "img" / "v.jsonl")[0].root == str(images)
    empty = write_csv(images / "e.csv", ["x,img/none.png,1,2,street,"])
    result = run_cli("--source", "manifest", "--manifest", str(empty), "--out", str(out))
    assert result.exit_code == 2 and "no views read" in result.output and not out.exists()


def test_unreadable_files_raise_located_errors(images: Path) -> None:
    csv_path = images / "m.csv"
    csv_path.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + b"b,img/b.jpg,1,2,street,caf\xe9\n")
    with pytest.raises(RecordError, match=r"m\.csv:3: not UTF-8 text"):
        load_manifest(csv_path)
    jsonl = images / "m.jsonl"
    jsonl.write_bytes(b'{"id": "\xff"}\n')
    result = load_manifest(jsonl)
    assert result.counts == {"invalid JSON": 1} and result.problems[0].line == 1
    parquet = images / "m.parquet"
    parquet.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(RecordError, match=r"m\.parquet: not a readable Parquet file"):
        load_manifest(parquet)


def test_symlink_out_of_the_root_is_rejected_with_its_line(images: Path, tmp_path_factory) -> None:
    outside = make_image(tmp_path_factory.mktemp("elsewhere") / "secret.png")
    (images / "img" / "link.png").symlink_to(outside)  # the text 'img/link.png' looks harmless
    (images / "img" / "inner.png").symlink_to(images / "img" / "a.png")  # a link that stays inside is fine
    rows = [GOOD, "c,img/link.png,10,20,street,x", "d,img/inner.png,1,1,satellite,y"]
    manifest = write_csv(images / "m.csv", rows)
    result = load_manifest(manifest)
    assert [v.id for v in result.views] == ["a", "d"]
    assert result.counts == {"image path escapes root": 1}
    (problem,) = result.problems
    assert str(problem).startswith(f"{manifest}:3 field 'image'") and str(outside) in str(problem)
    with pytest.raises(RecordError, match=r"m\.csv:3 field 'image'.*escapes the root"):
        load_manifest(manifest, strict=True)


def test_readme_views_command_with_read_only_root_and_outputs_elsewhere(tmp_path: Path) -> None:
    """README: ``geo-r1 data views --source manifest --manifest my_views.csv --root /data/photos --out
    runs/mine/views.jsonl``, then pairing, export and training data on the result."""
    from geor1.builders.export import export_examples, read_export
    from geor1.records import read_task_file
    from geor1.train.data import load_examples

    photos = tmp_path / "data" / "photos"
    rows = []
    for i in range(12):  # 12 places around the globe, a street photo and a satellite tile each
        lat, lon = -50 + 9 * i, -170 + 29 * i
        for kind, colour in (("street", (20 * i, 90, 40)), ("satellite", (20 * i, 40, 200))):
            image = f"{kind}/p{i:02d}.png"
            make_image(photos / image, colour)
            rows.append(f"p{i:02d}-{kind},{image},{lat},{lon},{kind},p{i:02d}")
    (tmp_path / "lists").mkdir()
    manifest = write_csv(tmp_path / "lists" / "my_views.csv", rows, header="id,image,lat,lon,view,place")
    out = tmp_path / "runs" / "mine" / "views.jsonl"
    for folder in (photos / "street", photos / "satellite", photos):
        folder.chmod(0o555)  # the dataset is read-only: nothing may be written under it
    try:
        result = run_cli(
            "--source", "manifest", "--manifest", str(manifest), "--root", str(photos), "--out", str(out)
        )
        assert result.exit_code == 0, result.output
        assert "wrote 24 views of 12 place(s)" in result.output
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert {d["root"] for d in lines} == {str(photos)} and lines[0]["image"] == "street/p00.png"
        tasks = tmp_path / "runs" / "tasks" / "pair.jsonl"
        result = CliRunner().invoke(
            build_app(),
            [
                "data",
                "pairing",
                "--views",
                str(out),
                "--out",
                str(tasks),
                "--query-view",
                "street",
                "--candidate-view",
                "satellite",
                "--min-km",
                "500",
                "--direction",
                "both",
            ],
        )
        assert result.exit_code == 0, result.output
        examples = read_task_file(tasks)
        assert len(examples) == 24
        lines = [json.loads(line) for line in tasks.read_text().splitlines()]
        for example, line in zip(examples, lines, strict=True):  # task image paths lead to the photos
            meta = example.meta
            kinds = [meta["query_view"], *[meta["candidate_view"]] * 4]
            for rel, kind in zip(line["images"], kinds, strict=True):
                assert (tasks.parent / rel).resolve().parent == (photos / kind).resolve()
            assert [Path(p).resolve() for p in example.images] == [
                (tasks.parent / rel).resolve() for rel in line["images"]
            ]
        lf = tmp_path / "runs" / "export" / "train.json"
        assert export_examples(examples, "llamafactory", lf) == 24
        back = read_export(lf, "llamafactory")
        assert all((lf.parent / p).is_file() for record in back for p in record["images"])
        vlm = tmp_path / "runs" / "export" / "vlm.jsonl"
        assert export_examples(examples, "vlm-r1", vlm) == 24
        assert all(
            (vlm.parent / p).is_file() for record in read_export(vlm, "vlm-r1") for p in record["images"]
        )
        dataset = load_examples(tasks, "grpo")
        assert dataset[0]["images"][0].size == (8, 8)
        assert {p.suffix for p in photos.rglob("*") if p.is_file()} == {".png"}  # nothing written there
    finally:
        for folder in (photos, photos / "street", photos / "satellite"):
            folder.chmod(0o755)


@pytest.mark.parametrize("row_root", ["/etc", "../outside", "img/../.."])
def test_a_rows_root_cannot_leave_the_image_root(images: Path, tmp_path: Path, row_root: str) -> None:
    (images.parent / "outside").mkdir(exist_ok=True)
    manifest = images / "m.csv"
    manifest.write_text(
        f"id,image,lat,lon,view,root\na,img/a.png,1,2,street,\nb,passwd,1,2,street,{row_root}\n"
    )
    out = tmp_path / "v.jsonl"
    result = run_cli(
        "--source", "manifest", "--manifest", str(manifest), "--out", str(out), "--strict", "--verify-images"
    )
    assert result.exit_code == 2 and not out.exists(), result.output
    assert f"{manifest}:3 field 'root': row root {row_root!r} lies outside the image root" in result.output
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out))
    assert result.exit_code == 0 and "root escapes image root: 1" in result.output
    assert [v.id for v in read_views(out)] == ["a"]


@pytest.mark.parametrize(
    ("bad", "swallowed"),
    [('b,"img/b.png,3,4,street,', 2), ('b,"img/b.png,3,4,street,x', 1)],
    ids=["to-the-end", "closed-later"],
)
def test_unclosed_quote_is_named_at_its_line_and_no_row_vanishes(
    images: Path, tmp_path: Path, bad: str, swallowed: int
) -> None:
    # the second case closes the quote on the next line ('..."x"'), leaving three fields instead of six
    tail = 'c,img/a.png,5,6,street,"x"' if swallowed == 1 else "c,img/a.png,5,6,street,"
    rows = [GOOD, bad, tail, "d,img/b.jpg,7,8,street,"]
    manifest = write_csv(images / "m.csv", rows)
    out = tmp_path / "v.jsonl"
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out), "--strict")
    assert result.exit_code == 2 and not out.exists()
    assert f"{manifest}:3 field 'image': unclosed quote" in result.output
    result = run_cli("--source", "manifest", "--manifest", str(manifest), "--out", str(out))
    assert result.exit_code == 0, result.output
    kept = [v.id for v in read_views(out)]
    assert f"skipped {1 + swallowed} bad row(s) of {len(kept) + 1 + swallowed}" in result.output
    assert "missing required field" not in result.output and "unclosed quote" in result.output
