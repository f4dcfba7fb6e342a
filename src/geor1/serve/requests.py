"""Parse and validate OpenAI chat-completions requests: messages, data-URL images, sampling settings.

Only inline ``data:image/...;base64,`` URLs are accepted: the server never opens a path or fetches a
URL a client names.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError


class RequestRejected(Exception):
    """A client error: ``status`` is the HTTP code, ``message`` the reason, ``param`` the offending field."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str = "invalid_request_error"
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


@dataclass
class ChatRequest:
    """A validated chat request: messages in our conversational format plus decoded images in order."""

    messages: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    model: str | None = None
    stop: list[str] = field(default_factory=list)


# Declared media type -> the one Pillow format allowed to decode it. Everything else Pillow could open
# (EPS through Ghostscript, PSD, TIFF, ...) is refused before any decoder runs.
MEDIA_TYPE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}


def _declared_format(header: str, param: str) -> str:
    """Return the Pillow format named by a data URL header ``data:<type>[;...];base64``."""
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise RequestRejected(400, "image URL must be data:image/<type>;base64,<data>", param)
    media_type = header[len("data:") :].split(";", 1)[0].strip().lower()
    fmt = MEDIA_TYPE_FORMATS.get(media_type)
    if fmt is None:
        allowed = ", ".join(sorted({t for t in MEDIA_TYPE_FORMATS if t != "image/jpg"}))
        raise RequestRejected(
            400, f"unsupported image type {media_type!r}; send one of {allowed}", param, "unsupported_image"
        )
    return fmt


def decode_data_url(url: str, *, max_pixels: int, param: str) -> Image.Image:
    """Return the RGB image in a base64 ``data:image/{png,jpeg,webp,gif}`` URL whose bytes are of the declared
    type; raise RequestRejected (400 for anything else or unreadable data, 413 over ``max_pixels``)."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise RequestRejected(400, "only base64 data URLs (data:image/...;base64,...) are accepted", param)
    header, _, payload = url.partition(",")
    fmt = _declared_format(header, param)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestRejected(400, "image data is not valid base64", param) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=[fmt]) as im:
                if im.width * im.height > max_pixels:  # checked on the header, before decoding pixels
                    raise RequestRejected(
                        413,
                        f"image is {im.width}x{im.height}, over the {max_pixels}-pixel limit",
                        param,
                        "too_large",
                    )
                im.load()
                return im.convert("RGB")
    except RequestRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestRejected(413, "image exceeds the decompression limit", param, "too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise RequestRejected(
            400, f"image data is not a readable {fmt} image (as its data URL declares)", param
        ) from None


def _number(body: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestRejected(400, f"'{key}' must be a number", key)
    if not lo <= value <= hi:
        raise RequestRejected(400, f"'{key}' must be within [{lo}, {hi}]", key)
    return float(value)


# Seeds are 64-bit signed integers, as OpenAI's API and torch's generators take them.
SEED_RANGE = (-(2**63), 2**63 - 1)
MAX_STOP = 4  # OpenAI's limit on stop sequences


def _check_field_types(body: dict[str, Any]) -> None:
    """Raise RequestRejected (400, naming the field) for a known field of the wrong type; fields this
    server does not use are ignored, as OpenAI-compatible servers do."""
    for key in ("model", "user"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise RequestRejected(400, f"'{key}' must be a string", key)
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise RequestRejected(400, "'stream' must be a boolean", "stream")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise RequestRejected(400, "'n' must be an integer", "n")
    stop = body.get("stop")
    if stop is not None:
        items = [stop] if isinstance(stop, str) else stop
        if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
            raise RequestRejected(400, "'stop' must be a non-empty string or a list of them", "stop")
        if len(items) > MAX_STOP:
            raise RequestRejected(400, f"'stop' takes at most {MAX_STOP} sequences", "stop")
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise RequestRejected(400, "'seed' must be an integer", "seed")
        if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
            raise RequestRejected(400, "'seed' must fit in a signed 64-bit integer", "seed")


def parse_chat_request(
    body: Any, *, max_images: int, max_pixels: int, max_tokens_limit: int, default_max_tokens: int = 256
) -> ChatRequest:
    """Return a ChatRequest from an OpenAI chat-completions JSON body; raise RequestRejected on bad input."""
    if not isinstance(body, dict):
        raise RequestRejected(400, "request body must be a JSON object")
    _check_field_types(body)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise RequestRejected(400, "'messages' must be a non-empty list", "messages")
    if body.get("stream"):
        raise RequestRejected(400, "streaming is not supported", "stream")
    if body.get("n", 1) not in (1, None):
        raise RequestRejected(400, "only n=1 is supported", "n")
    messages: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    for i, message in enumerate(raw_messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
            raise RequestRejected(400, "each message needs a role of system, user or assistant", where)
        content = message.get("content")
        blocks: list[dict[str, Any]] = []
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            for j, part in enumerate(content):
                pwhere = f"{where}.content[{j}]"
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    blocks.append({"type": "text", "text": part["text"]})
                elif kind == "image_url":
                    image_url = part.get("image_url")
                    url = image_url.get("url") if isinstance(image_url, dict) else image_url
                    if len(images) >= max_images:
                        raise RequestRejected(400, f"at most {max_images} images per request", pwhere)
                    images.append(decode_data_url(url, max_pixels=max_pixels, param=pwhere))
                    blocks.append({"type": "image", "text": None})
                else:
                    raise RequestRejected(400, "content parts must be text or image_url", pwhere)
        else:
            raise RequestRejected(400, "content must be a string or a list of parts", where)
        messages.append({"role": message["role"], "content": blocks})
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens", default_max_tokens))
    if max_tokens is None:
        max_tokens = default_max_tokens
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= max_tokens_limit
    ):
        raise RequestRejected(
            400, f"'max_tokens' must be an integer in [1, {max_tokens_limit}]", "max_tokens"
        )
    stop = body.get("stop")
    return ChatRequest(
        messages=messages,
        images=images,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0),
        seed=body.get("seed"),
        model=body.get("model"),
        stop=[stop] if isinstance(stop, str) else list(stop or []),
    )
