"""Pairing on VIGOR-like views: semi-positive tiles (they cover the panorama too) are never negatives."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from geor1.builders.common import load_view_set
from geor1.builders.pairing import PairingConfig, build_pairing
from geor1.sources.folder import write_manifest
from geor1.sources.vigor import load_vigor

GRID = 4  # GRID x GRID satellite tiles about 70 m apart, one panorama in each


def tile_name(i: int, j: int) -> str:
    return f"satellite_{40.7 + i * 0.0006:.7f}_{-74.0 + j * 0.0008:.7f}.png"


def vigor_grid(root: Path) -> Path:
    """Write a one-city VIGOR tree whose label lines name each tile's three neighbours as semi-positives."""
    pano_dir, sat_dir = root / "NewYork" / "panorama", root / "NewYork" / "satellite"
    pano_dir.mkdir(parents=True)
    sat_dir.mkdir(parents=True)
    lines = []
    for i in range(GRID):
        for j in range(GRID):
            sat = tile_name(i, j)
            pano = f"p{i}{j},{40.7 + i * 0.0006 + 0.0001:.6f},{-74.0 + j * 0.0008:.6f},.jpg"
            Image.new("RGB", (8, 8), (40 * i, 40 * j, 90)).save(sat_dir / sat)
            Image.new("RGB", (8, 8), (40 * i, 40 * j, 200)).save(pano_dir / pano)
            neighbours = [((i + di) % GRID, (j + dj) % GRID) for di, dj in ((1, 0), (0, 1), (1, 1))]
            semi = [f"{tile_name(a, b)} 10.0 -20.0" for a, b in neighbours]
            lines.append(" ".join([pano, sat, "1.0", "2.0", *semi]))
    (root / "splits" / "NewYork").mkdir(parents=True)
    (root / "splits" / "NewYork" / "same_area_balanced_train.txt").write_text("\n".join(lines) + "\n")
    return root


def test_semi_positive_tiles_are_never_negatives(tmp_path: Path) -> None:
    root = vigor_grid(tmp_path / "vigor")
    result = load_vigor(root, split="same_area_train", cities=["NewYork"])
    assert len(result.views) == 2 * GRID * GRID
    write_manifest(root / "views.jsonl", result.views, result.root)
    views = load_view_set(root / "views.jsonl")
    # place -> places of its semi-positive tiles, and the reverse (panoramas a tile covers as a semi-positive)
    semi: dict[str, set[str]] = {}
    for v in views.views:
        for name in v.meta.get("semi_positives", []):
            other = f"vigor/NewYork/{Path(name).stem}"
            semi.setdefault(v.place, set()).add(other)
            semi.setdefault(other, set()).add(v.place)
    assert all(len(s) == 6 for s in semi.values())  # 3 listed + 3 listing it: 9 of 15 others remain
    for seed in range(3):
        config = PairingConfig(
            query_view="street", candidate_view="satellite", band="hard", direction="both", seed=seed
        )
        examples, report = build_pairing(views, config, root)
        assert report.written == 2 * GRID * GRID and not report.shortage
        for ex in examples:
            m = ex["meta"]
            negatives = [p for j, p in enumerate(m["candidate_places"]) if j != m["answer_index"]]
            assert m["place"] not in negatives
            assert not set(negatives) & semi[m["place"]], (ex["id"], negatives)


def test_only_semi_positive_places_left_is_a_shortage(tmp_path: Path) -> None:
    root = vigor_grid(tmp_path / "vigor")
    result = load_vigor(root, split="same_area_train", cities=["NewYork"])
    write_manifest(root / "views.jsonl", result.views, result.root)
    views = load_view_set(root / "views.jsonl")
    # 15 other places, 6 of them the same spot: K=10 needs 9 negatives (just enough), K=11 needs 10
    config = PairingConfig(query_view="street", candidate_view="satellite", band="hard", k=10)
    assert build_pairing(views, config, root)[1].written == GRID * GRID
    config = PairingConfig(query_view="street", candidate_view="satellite", band="hard", k=11)
    assert build_pairing(views, config, root)[1].shortage == {"hard": GRID * GRID}
