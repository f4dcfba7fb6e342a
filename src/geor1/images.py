"""Image loading that fails loudly: corrupt, truncated or oversized files raise RecordError naming the file."""

from __future__ import annotations

import base64
import mimetypes
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


def image_data_url(path: str | Path) -> str:
    """Return a file's bytes as a ``data:<mime>;base64,…`` URL (MIME type from the extension, PNG if
    unknown), the form OpenAI-compatible chat endpoints take; raise RecordError if the file is missing."""
    path = Path(path)
    if not path.is_file():
        raise RecordError("image file not found", path=path, field="image")
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
