"""The IGBP land-cover legend of MODIS MCD12C1 (Type 1): class names, a fixed palette and class shares.

Class values 0–16 follow the MCD12 user guide (0 = water bodies); 255 is the product's fill value.
The palette is the usual MODIS IGBP colour table, so rendered maps look like the ones people know.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

WATER = 0
BARREN = 16
FILL = 255

# (name, hex colour) by class value.
IGBP_LEGEND: tuple[tuple[str, str], ...] = (
    ("Water Bodies", "1c0dff"),
    ("Evergreen Needleleaf Forests", "05450a"),
    ("Evergreen Broadleaf Forests", "086a10"),
    ("Deciduous Needleleaf Forests", "54a708"),
    ("Deciduous Broadleaf Forests", "78d203"),
    ("Mixed Forests", "009900"),
    ("Closed Shrublands", "c6b044"),
    ("Open Shrublands", "dcd159"),
    ("Woody Savannas", "dade48"),
    ("Savannas", "fbff13"),
    ("Grasslands", "b6ff05"),
    ("Permanent Wetlands", "27ff87"),
    ("Croplands", "c24f44"),
    ("Urban and Built-up Lands", "a5a5a5"),
    ("Cropland/Natural Vegetation Mosaics", "ff6d4c"),
    ("Permanent Snow and Ice", "69fff8"),
    ("Barren", "f9ffa4"),
)
IGBP_NAMES: tuple[str, ...] = tuple(name for name, _ in IGBP_LEGEND)
N_CLASSES = len(IGBP_LEGEND)


def palette_rgb() -> NDArray[np.uint8]:
    """Return a (256, 3) uint8 colour table: IGBP colours for classes 0–16, black for anything else."""
    table = np.zeros((256, 3), dtype=np.uint8)
    for value, (_, hex_colour) in enumerate(IGBP_LEGEND):
        table[value] = [int(hex_colour[i : i + 2], 16) for i in (0, 2, 4)]
    return table


_PALETTE_BYTES = palette_rgb().tobytes()


def render_classes(classes: NDArray[np.uint8]) -> Image.Image:
    """Return a palette ("P" mode) image showing a 2-D array of IGBP class values in the legend colours."""
    if classes.ndim != 2 or classes.dtype != np.uint8:
        raise ValueError("expected a 2-D uint8 array of class values")
    height, width = classes.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(classes).tobytes())
    image.putpalette(_PALETTE_BYTES)
    return image


def class_shares(
    classes: NDArray[np.uint8], row_weights: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Return the share of each class 0–16 in ``classes`` (a length-17 array summing to 1).

    ``row_weights`` (one per row, e.g. cos(latitude) so equal-angle pixels count by area) weight the
    pixels; fill values (255) and other out-of-legend values are left out of the total. Returns all
    zeros if no pixel carries a class.
    """
    if row_weights is None:
        weights = None
    else:
        weights = np.broadcast_to(np.asarray(row_weights, dtype=np.float64)[:, None], classes.shape).ravel()
    counts = np.bincount(classes.ravel(), weights=weights, minlength=256)[:N_CLASSES]
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(N_CLASSES)


def has_data(shares: NDArray[np.float64]) -> bool:
    """Return True if ``class_shares`` found at least one pixel carrying a class (not all fill)."""
    return bool(np.asarray(shares).sum() > 0)


def land_share(shares: NDArray[np.float64]) -> float:
    """Return the share of land (every class but water) among the pixels that carry a class.

    Fill pixels count neither as land nor as water; a footprint with no class at all has land share 0.0:
    no data is never evidence of land.
    """
    shares = np.asarray(shares, dtype=np.float64)
    return float(shares.sum() - shares[WATER]) if has_data(shares) else 0.0
