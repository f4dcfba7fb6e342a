"""PNG plots of a run (matplotlib, Agg backend): per-task bar chart, geolocation error CDF with the km
thresholds marked, pairing accuracy by difficulty band, and a world map of errors on Blue Marble."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geor1.eval.metrics import KM_THRESHOLDS
from geor1.eval.report import headline_rows

_DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    import io

    from geor1.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


Bar = tuple[str, float, tuple[float, float] | None]


def share_bars(docs: Sequence[dict[str, Any]], *, seed: int = 0, n_boot: int = 2000) -> list[Bar]:
    """Return ``[(label, value, ci)]`` of every task's share-type headline metrics (accuracies, acc@km),
    with the same bootstrap CIs as ``report.md`` for the same ``seed`` and ``n_boot``."""
    bars = []
    for doc in docs:
        for row in headline_rows(doc, seed=seed, n_boot=n_boot):
            shares = row["statistic"] == "mean" and "geoscore" not in row["metric"]
            if row["value"] is None or not shares or not 0.0 <= row["value"] <= 1.0:
                continue
            bars.append((f"{doc['task']}\n{row['metric']}", row["value"], row["ci"]))
    return bars


def task_bar_chart(
    docs: Sequence[dict[str, Any]], path: Path, *, seed: int = 0, n_boot: int = 2000
) -> Path | None:
    """Bar chart of every task's share-type headline metrics with 95 % CI bars (``share_bars``); return
    the PNG path, or None when there is nothing to plot."""
    bars = share_bars(docs, seed=seed, n_boot=n_boot)
    if not bars:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(bars) + 1.5), 3.8))
    x = np.arange(len(bars))
    values = np.array([b[1] for b in bars])
    low = np.array([b[1] - (b[2][0] if b[2] else b[1]) for b in bars])
    high = np.array([(b[2][1] if b[2] else b[1]) - b[1] for b in bars])
    ax.bar(x, values, color="#4C78A8", yerr=[low, high], capsize=3)
    ax.set_xticks(x, [b[0] for b in bars], fontsize=7, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95 % bootstrap CI)")
    ax.set_title("Accuracy per task")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _errors_by_source(docs: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    out = {}
    for doc in docs:
        km = [r.get("km", np.nan) for r in doc["examples"] if "km" in r]
        if km:
            out[doc["task"]] = np.array([np.nan if v is None else v for v in km], dtype=np.float64)
    return out


def error_cdf(docs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """CDF of geolocation errors (share of ALL examples within x km; unparsed never reach 1) per task."""
    series = _errors_by_source(docs)
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    grid = np.logspace(-1, np.log10(20_100), 400)
    for name, km in series.items():
        share = [(np.sum(km <= g) / km.size) for g in grid]
        ax.plot(grid, share, label=f"{name} (n={km.size}, parsed {np.sum(~np.isnan(km))})")
    for t in KM_THRESHOLDS:
        ax.axvline(t, color="grey", ls="--", lw=0.8)
        ax.text(t, 1.01, f"{t} km", rotation=0, ha="center", va="bottom", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("great-circle error (km, log scale)")
    ax.set_ylabel("share of examples within error")
    ax.set_title("Geolocation error CDF", pad=14)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def pairing_by_band(docs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Bar chart of pairing accuracy per difficulty band (and direction), with the chance level."""
    doc = next((d for d in docs if d["task"] == "pairing"), None)
    if doc is None:
        return None
    plt = _pyplot()
    groups = [("band", doc["metrics"]["by_band"]), ("direction", doc["metrics"]["by_direction"])]
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.6), sharey=True)
    for ax, (title, table) in zip(axes, groups, strict=True):
        names = list(table)
        acc = [table[n]["accuracy"] or 0.0 for n in names]
        ax.bar(range(len(names)), acc, color="#F58518")
        for i, n in enumerate(names):
            ax.text(i, acc[i] + 0.02, f"n={table[n]['n']}", ha="center", fontsize=8)
        ax.set_xticks(range(len(names)), names, fontsize=8, rotation=15)
        ax.set_ylim(0, 1)
        ax.set_title(f"pairing accuracy by {title}")
        ax.grid(axis="y", alpha=0.3)
    chance = doc["metrics"].get("chance")
    if chance:
        for ax in axes:
            ax.axhline(chance, color="black", ls=":", lw=1, label=f"chance {chance:.2f}")
        axes[0].legend(fontsize=8)
    axes[0].set_ylabel("accuracy")
    return _save(fig, path)


def _blue_marble(step: int = 4) -> np.ndarray | None:
    try:
        from geor1.sources.earth_data import blue_marble

        return np.asarray(blue_marble())[::step, ::step]
    except Exception:  # the Earth data package is optional for plotting: fall back to a plain map
        return None


def error_map(docs: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """World map (equirectangular, Blue Marble background) of true locations coloured by error, with a
    thin line to each prediction."""
    points = []
    for doc in docs:
        for r in doc["examples"]:
            if "km" in r and r.get("lat") is not None:
                points.append((r["lat"], r["lon"], r.get("pred_lat"), r.get("pred_lon"), r.get("km")))
    if not points:
        return None
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(10, 5.3))
    background = _blue_marble()
    if background is not None:
        ax.imshow(background, extent=(-180, 180, -90, 90), origin="upper", interpolation="bilinear")
    else:
        ax.set_facecolor("#dde6ef")
    lat = np.array([p[0] for p in points], dtype=float)
    lon = np.array([p[1] for p in points], dtype=float)
    km = np.array([np.nan if p[4] is None else p[4] for p in points], dtype=float)
    for la, lo, pla, plo, _ in points:
        if pla is not None and plo is not None:
            ax.plot([lo, plo], [la, pla], color="white", lw=0.5, alpha=0.5)
    missing = np.isnan(km)
    if missing.any():
        ax.scatter(lon[missing], lat[missing], marker="x", c="red", s=22, lw=1.2, label="no parseable answer")
    if (~missing).any():
        sc = ax.scatter(lon[~missing], lat[~missing], c=np.clip(km[~missing], 1, 20_000), cmap="plasma_r",
                        norm=LogNorm(1, 20_000), s=26, edgecolors="black", linewidths=0.4)  # fmt: skip
        fig.colorbar(sc, ax=ax, fraction=0.025, pad=0.01, label="error (km)")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("Geolocation errors at the true locations (lines point to the predictions)")
    if missing.any():
        ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def make_plots(
    eval_dir: Path, docs: Sequence[dict[str, Any]], *, seed: int = 0, n_boot: int = 2000
) -> list[Path]:
    """Write every plot that has data into ``eval_dir`` (CIs from ``seed``/``n_boot``, as in the report);
    return their paths."""
    eval_dir = Path(eval_dir)
    made = [
        task_bar_chart(docs, eval_dir / "tasks_bar.png", seed=seed, n_boot=n_boot),
        error_cdf(docs, eval_dir / "geolocation_cdf.png"),
        pairing_by_band(docs, eval_dir / "pairing_bands.png"),
        error_map(docs, eval_dir / "error_map.png"),
    ]
    return [p for p in made if p is not None]
