"""What a client of ``geo-r1 serve`` sees for each request: the status, param, code and message of every
refusal, the defaults and limits of the sampling settings, and the messages handed to the model."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from geor1.serve.requests import RequestRejected, decode_data_url, parse_chat_request


def png_b64(size=(8, 8), mode="RGB", fmt="PNG") -> str:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


PNG = "data:image/png;base64," + png_b64()
USER = [{"role": "user", "content": "x"}]


def parse(body, **kw):
    opts = dict(max_images=2, max_pixels=64 * 64, max_tokens_limit=512)
    opts.update(kw)
    return parse_chat_request(body, **opts)


def image_part(url) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def refusal(call) -> tuple:
    with pytest.raises(RequestRejected) as err:
        call()
    return err.value.status, err.value.param, err.value.code, err.value.message


BAD_URL = "image URL must be data:image/<type>;base64,<data>"
NOT_B64 = "image data is not valid base64"
ALLOWED = "image/gif, image/jpeg, image/png, image/webp"


@pytest.mark.parametrize(
    "url,status,code,message",
    [
        (None, 400, "invalid_request_error", "only base64 data URLs (data:image/...;base64,...) are accepted"),
        (5, 400, "invalid_request_error", "only base64 data URLs (data:image/...;base64,...) are accepted"),
        ("file:///etc/passwd", 400, "invalid_request_error",
         "only base64 data URLs (data:image/...;base64,...) are accepted"),
        ("data:image/png," + png_b64(), 400, "invalid_request_error", BAD_URL),  # no ;base64
        ("data:image/png;base64," + png_b64()[:8] + "," + png_b64()[8:], 400, "invalid_request_error", NOT_B64),
        ("data:image/png;base64," + png_b64()[:8] + "!" + png_b64()[8:], 400, "invalid_request_error", NOT_B64),
        ("data:text/plain;base64,aGVsbG8=", 400, "unsupported_image",
         f"unsupported image type 'text/plain'; send one of {ALLOWED}"),
        ("data:image/png;base64," + png_b64(fmt="BMP"), 400, "invalid_request_error",
         "image data is not a readable PNG image (as its data URL declares)"),
        ("data:image/png;base64," + png_b64(size=(90, 50)), 413, "too_large",
         "image is 90x50, over the 4096-pixel limit"),
    ],
    ids=["none", "number", "file-url", "no-base64-marker", "comma-in-data", "bad-character", "text-type",
         "bmp-as-png", "too-many-pixels"],
)  # fmt: skip
def test_image_refusals(url, status, code, message):
    assert refusal(lambda: decode_data_url(url, max_pixels=64 * 64, param="p")) == (
        status,
        "p",
        code,
        message,
    )


@pytest.mark.parametrize("size,exceeds", [((40, 40), "warning"), ((70, 70), "error")])
def test_pillow_decompression_limit_is_a_413(monkeypatch, size, exceeds):
    """Past Pillow's own pixel limit (a warning up to twice it, an error beyond) the image is refused,
    even under a generous server limit."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    url = "data:image/png;base64," + png_b64(size=size)
    got = refusal(lambda: decode_data_url(url, max_pixels=10**6, param="p"))
    assert got == (413, "p", "too_large", "image exceeds the decompression limit")


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "1"])
def test_images_are_handed_over_as_rgb(mode):
    image = decode_data_url(
        "data:image/png;base64," + png_b64(size=(5, 3), mode=mode), max_pixels=15, param="p"
    )
    assert image.mode == "RGB" and image.size == (5, 3)


def test_data_url_parameters_before_base64_are_allowed():
    url = "data:image/png;name=photo.png;base64," + png_b64()
    assert decode_data_url(url, max_pixels=64, param="p").size == (8, 8)


@pytest.mark.parametrize(
    "body,status,param,message",
    [
        ([], 400, None, "request body must be a JSON object"),
        ({"messages": []}, 400, "messages", "'messages' must be a non-empty list"),
        ({"messages": "hi"}, 400, "messages", "'messages' must be a non-empty list"),
        ({"messages": USER, "stream": True}, 400, "stream", "streaming is not supported"),
        ({"messages": USER, "n": 2}, 400, "n", "only n=1 is supported"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 400, "messages[0]",
         "each message needs a role of system, user or assistant"),
        ({"messages": ["x"]}, 400, "messages[0]", "each message needs a role of system, user or assistant"),
        ({"messages": [{"role": "user", "content": None}]}, 400, "messages[0]",
         "content must be a string or a list of parts"),
        ({"messages": [{"role": "user", "content": ["just text"]}]}, 400, "messages[0].content[0]",
         "content parts must be text or image_url"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, 400,
         "messages[0].content[0]", "content parts must be text or image_url"),
        ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 400, "messages[0].content[0]",
         "content parts must be text or image_url"),
        ({"messages": [{"role": "user", "content": [image_part(PNG)] * 3}]}, 400, "messages[0].content[2]",
         "at most 2 images per request"),
        ({"messages": USER, "max_tokens": 0}, 400, "max_tokens", "'max_tokens' must be an integer in [1, 512]"),
        ({"messages": USER, "max_tokens": 513}, 400, "max_tokens", "'max_tokens' must be an integer in [1, 512]"),
        ({"messages": USER, "max_tokens": True}, 400, "max_tokens", "'max_tokens' must be an integer in [1, 512]"),
        ({"messages": USER, "max_tokens": 8.0}, 400, "max_tokens", "'max_tokens' must be an integer in [1, 512]"),
        ({"messages": USER, "max_completion_tokens": 600, "max_tokens": 8}, 400, "max_tokens",
         "'max_tokens' must be an integer in [1, 512]"),
        ({"messages": USER, "seed": True}, 400, "seed", "'seed' must be an integer"),
        ({"messages": USER, "seed": "3"}, 400, "seed", "'seed' must be an integer"),
        ({"messages": USER, "temperature": "hot"}, 400, "temperature", "'temperature' must be a number"),
        ({"messages": USER, "temperature": True}, 400, "temperature", "'temperature' must be a number"),
        ({"messages": USER, "temperature": float("nan")}, 400, "temperature", "'temperature' must be a number"),
        ({"messages": USER, "temperature": 2.01}, 400, "temperature", "'temperature' must be within [0.0, 2.0]"),
        ({"messages": USER, "temperature": -0.1}, 400, "temperature", "'temperature' must be within [0.0, 2.0]"),
        ({"messages": USER, "top_p": 1.01}, 400, "top_p", "'top_p' must be within [0.0, 1.0]"),
        ({"messages": USER, "top_p": -0.01}, 400, "top_p", "'top_p' must be within [0.0, 1.0]"),
    ],
)  # fmt: skip
def test_request_refusals(body, status, param, message):
    assert refusal(lambda: parse(body)) == (status, param, "invalid_request_error", message)


def test_messages_handed_to_the_model():
    req = parse(
        {
            "model": "geo",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [image_part(PNG), {"type": "text", "text": "Where?"}]},
                {
                    "role": "assistant",
                    "content": [{"type": "image_url", "image_url": PNG}],
                },  # the bare-string form
            ],
        }
    )
    assert req.messages == [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "Where?"}]},
        {"role": "assistant", "content": [{"type": "image", "text": None}]},
    ]
    assert [im.size for im in req.images] == [(8, 8), (8, 8)] and req.model == "geo"


def test_sampling_defaults_and_limits():
    plain = parse({"messages": USER, "n": None, "stream": False})
    assert (plain.max_tokens, plain.temperature, plain.top_p, plain.seed, plain.model) == (
        256,
        0.0,
        1.0,
        None,
        None,
    )
    assert parse({"messages": USER, "model": "tiny"}).model == "tiny"  # a non-string model is a 400
    assert parse({"messages": USER}, default_max_tokens=32).max_tokens == 32
    assert parse({"messages": USER, "max_tokens": None, "n": 1}).max_tokens == 256
    edges = parse({"messages": USER, "max_tokens": 512, "temperature": 2, "top_p": 0, "seed": 0})
    assert (edges.max_tokens, edges.temperature, edges.top_p, edges.seed) == (512, 2.0, 0.0, 0)
    low = parse({"messages": USER, "max_tokens": 1, "temperature": 0.0, "top_p": 1.0})
    assert (low.max_tokens, low.temperature, low.top_p) == (1, 0.0, 1.0)
    assert isinstance(edges.temperature, float) and isinstance(edges.top_p, float)  # ints become floats
    newer = parse({"messages": USER, "max_completion_tokens": 9, "max_tokens": 100, "top_p": None})
    assert (newer.max_tokens, newer.top_p) == (9, 1.0)  # the newer OpenAI name wins


def test_palette_png_with_transparency_is_accepted():
    """Pillow warns while converting such an image: only its decompression-bomb warning is a refusal, any
    other warning must not turn a valid upload into an error."""
    image = Image.new("P", (8, 8))
    image.putpalette([i % 256 for i in range(768)])
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=bytes([0, 255, 128]))
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    decoded = decode_data_url(url, max_pixels=64, param="p")
    assert decoded.mode == "RGB" and decoded.size == (8, 8)
