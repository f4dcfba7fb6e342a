"""``geo-r1 data views``: read a view source (manifest or real cross-view dataset) into a view manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from geor1.commands import field_options
from geor1.commands.data import data_app
from geor1.errors import GeoR1Error
from geor1.sources.folder import write_manifest
from geor1.sources.registry import SOURCES, load_views


@data_app.command("views")
@field_options(cities="--city")
def views_command(
    source: str = typer.Option(..., "--source", help=f"View source: {', '.join(SOURCES)}."),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Normalized JSONL view manifest to write, anywhere: above or in the image root its image "
        "paths gain the root's prefix; elsewhere each line records the root (absolute path).",
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="Dataset root (image paths are relative to it); manifest: defaults to its folder.",
    ),
    manifest: Path | None = typer.Option(None, "--manifest", help="Manifest file (CSV, JSONL or Parquet)."),
    gps: Path | None = typer.Option(
        None,
        "--gps",
        help="University-1652: the buildings' coordinates, the published KML/KMZ or a CSV building_id,lat,lon.",
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="vigor: same_area_train, same_area_test, cross_area_train, cross_area_test; "
        "cvusa: train, val, all; university1652: train, test.",
    ),
    city: list[str] | None = typer.Option(
        None, "--city", help="vigor, cvcities: read only this city (repeat for several); default: all."
    ),
    kinds: list[str] | None = typer.Option(
        None,
        "--kinds",
        help="university1652: folder kinds to read, satellite|street|drone|google (repeat or comma-separate; "
        "default: satellite, street, drone).",
    ),
    splits_dir: str | None = typer.Option(
        None,
        "--splits-dir",
        help="vigor: label folder under the root (e.g. splits or splits__corrected); default: detected, "
        "SliceMatch's corrected labels first.",
    ),
    label_suffix: str | None = typer.Option(
        None,
        "--label-suffix",
        help="vigor: label file-name suffix before .txt ('__corrected' or ''); default: detected.",
    ),
    all_tiles: bool = typer.Option(
        False,
        "--all-tiles",
        help="vigor --split: also make every tile of each city's satellite_list.txt a view (the full gallery).",
    ),
    max_pair_m: float | None = typer.Option(
        None,
        "--max-pair-m",
        help="vigor without --split: pair a panorama with the nearest tile within this many metres (default 50).",
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first bad row instead of skipping it."),
    verify_images: bool = typer.Option(
        False,
        "--verify-images",
        help="Decode every image fully; corrupt or truncated files count as bad rows.",
    ),
) -> None:
    """Read geotagged views from a source and write them as a normalized JSONL view manifest (atomically)."""
    if source not in SOURCES:
        raise typer.BadParameter(f"choose one of {', '.join(SOURCES)}", param_hint="--source")
    options: dict[str, object] = {"strict": strict, "verify_images": verify_images}
    kind_list = [k.strip() for entry in kinds or [] for k in entry.split(",") if k.strip()]
    given = (
        ("manifest", manifest),
        ("gps", gps),
        ("split", split),
        ("cities", city),
        ("kinds", kind_list),
        ("splits_dir", splits_dir),
        ("label_suffix", label_suffix),
        ("all_tiles", all_tiles),
        ("max_pair_m", max_pair_m),
    )
    for name, value in given:
        # an empty --label-suffix '' is a choice (the original file names), not an absent option
        if (
            value
            or (name == "label_suffix" and value is not None)
            or (name == "max_pair_m" and value is not None)
        ):
            options[name] = value
    result = load_views(source, root, **options)
    if not result.views:
        typer.echo(result.summary(), err=True)
        raise GeoR1Error(f"no views read from source {source!r}; nothing written")
    written = write_manifest(out, result.views, result.root)
    kinds = ", ".join(f"{kind}: {n}" for kind, n in result.kinds().items())
    places = len({v.place for v in result.views})
    typer.echo(f"wrote {written} views of {places} place(s) to {out} ({kinds})")
    typer.echo(result.summary(limit=10))
