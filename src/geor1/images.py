"""Image loading that fails loudly: corrupt, truncated or oversized files raise RecordError naming the file."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from geor1.errors import RecordError

# Refuse decompression bombs: far above any training image, far below what exhausts memory.
MAX_IMAGE_PIXELS = 64_000_000


def open_image(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Return the image at ``path`` fully decoded as RGB; raise RecordError if missing, corrupt or too large."""
    path = Path(path)
    if not path.is_file():
        raise RecordError("image file not found", path=path, field="image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise RecordError(
                        f"image has {im.width}x{im.height} pixels, more than the limit {max_pixels}",
                        path=path,
                        field="image",
                    )
                im.load()  # decodes every byte: truncated data raises here, not later in training
                return im.convert("RGB")
    except RecordError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RecordError(
            f"unreadable image ({type(exc).__name__}: {exc})", path=path, field="image"
        ) from None
    except Image.DecompressionBombWarning as exc:
        raise RecordError(f"image too large ({exc})", path=path, field="image") from None


def check_image(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Return ``(width, height)`` after fully decoding the image (see ``open_image`` for errors)."""
    im = open_image(path, max_pixels=max_pixels)
    return im.size
