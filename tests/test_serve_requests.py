import base64
import io

import pytest
from PIL import Image

from geor1.serve.requests import RequestRejected, decode_data_url, parse_chat_request


def data_url(size=(8, 8), fmt="PNG", color=(10, 200, 30), media_type=None) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    media_type = media_type or f"image/{fmt.lower()}"
    return f"data:{media_type};base64," + base64.b64encode(buf.getvalue()).decode()


def parse(body, **kw):
    opts = dict(max_images=2, max_pixels=64 * 64, max_tokens_limit=512)
    opts.update(kw)
    return parse_chat_request(body, **opts)


def test_parses_text_and_images_in_order():
    req = parse(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url()}},
                        {"type": "text", "text": "Where?"},
                    ],
                },
            ],
            "max_tokens": 32,
            "temperature": 0.7,
            "seed": 3,
        }
    )
    assert [b["type"] for b in req.messages[1]["content"]] == ["image", "text"]
    assert req.messages[0]["content"] == [{"type": "text", "text": "be brief"}]
    assert len(req.images) == 1 and req.images[0].size == (8, 8)
    assert (req.max_tokens, req.temperature, req.seed) == (32, 0.7, 3)


@pytest.mark.parametrize(
    "body,status,param",
    [
        ([], 400, None),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0]"),
        ({"messages": [{"role": "user", "content": 5}]}, 400, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10_000}, 400, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, 400, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": True}, 400, "stream"),
    ],
)
def test_rejects_malformed_bodies(body, status, param):
    with pytest.raises(RequestRejected) as err:
        parse(body)
    assert err.value.status == status and err.value.param == param


@pytest.mark.parametrize(
    "url,status",
    [
        ("/etc/passwd", 400),
        ("file:///etc/passwd", 400),
        ("http://127.0.0.1/x.png", 400),
        ("data:text/plain;base64,aGVsbG8=", 400),
        ("data:image/png;base64,!!!notbase64", 400),
        ("data:image/png;base64," + base64.b64encode(b"not an image at all").decode(), 400),
    ],
)
def test_rejects_non_data_or_broken_images(url, status):
    with pytest.raises(RequestRejected) as err:
        decode_data_url(url, max_pixels=10_000, param="p")
    assert err.value.status == status


@pytest.fixture
def decoder_calls(monkeypatch):
    """Record every pixel decode Pillow starts (``ImageFile.load`` and any decoder it creates)."""
    from PIL import ImageFile

    calls: list[str] = []
    load, getdecoder = ImageFile.ImageFile.load, Image._getdecoder

    def spy_load(self, *args, **kwargs):
        calls.append(f"load {self.format}")
        return load(self, *args, **kwargs)

    def spy_getdecoder(mode, decoder_name, *args, **kwargs):
        calls.append(f"decoder {decoder_name}")
        return getdecoder(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy_load)
    monkeypatch.setattr(Image, "_getdecoder", spy_getdecoder)
    return calls


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_rejects_too_many_pixels_before_decoding(fmt, decoder_calls):
    url = data_url(size=(300, 200), fmt=fmt)
    with pytest.raises(RequestRejected) as err:
        decode_data_url(url, max_pixels=100 * 100, param="p")
    assert err.value.status == 413 and err.value.code == "too_large" and "300x200" in err.value.message
    assert decoder_calls == []  # refused on the header: no pixel was decoded
    image = decode_data_url(url, max_pixels=300 * 200, param="p")  # the spy sees a decode when there is one
    assert image.size == (300, 200) and decoder_calls


def test_truncated_image_rejected():
    url = data_url(size=(64, 64), color=(1, 2, 3))
    header, payload = url.split(",")
    raw = base64.b64decode(payload)[:-40]
    with pytest.raises(RequestRejected):
        decode_data_url(header + "," + base64.b64encode(raw).decode(), max_pixels=10_000, param="p")


def test_too_many_images():
    part = {"type": "image_url", "image_url": {"url": data_url()}}
    with pytest.raises(RequestRejected, match="at most 2 images"):
        parse({"messages": [{"role": "user", "content": [part, part, part]}]})


@pytest.mark.parametrize(
    "fmt,media_type",
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("JPEG", "image/jpg"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
    ],
)
def test_accepts_png_jpeg_webp_gif(fmt, media_type):
    im = decode_data_url(data_url(size=(9, 7), fmt=fmt, media_type=media_type), max_pixels=100, param="p")
    assert im.size == (9, 7) and im.mode == "RGB"


@pytest.mark.parametrize(
    "fmt,media_type",
    [
        ("BMP", "image/bmp"),  # a format Pillow reads, but not one the server accepts
        ("TIFF", "image/tiff"),
        ("EPS", "image/x-eps"),  # would go through Ghostscript if Pillow were let loose on it
        ("EPS", "image/png"),  # declared PNG, bytes are EPS
        ("BMP", "image/png"),  # declared PNG, bytes are BMP
        ("TIFF", "image/jpeg"),
        ("PNG", "image/jpeg"),  # allowed format, but not the declared one
        ("JPEG", "image/gif"),
    ],
)
def test_rejects_other_formats_and_mismatched_media_types(fmt, media_type):
    with pytest.raises(RequestRejected) as err:
        decode_data_url(data_url(size=(8, 8), fmt=fmt, media_type=media_type), max_pixels=10_000, param="p")
    assert err.value.status == 400 and err.value.param == "p"


USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"model": 123}, "model"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", 1]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -(2**64)}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"user": ["me"]}, "user"),
        ({"stream": "no"}, "stream"),
        ({"n": 1.0}, "n"),
    ],
)
def test_fields_of_the_wrong_type_are_named(extra, param):
    with pytest.raises(RequestRejected) as err:
        parse({"messages": USER, **extra})
    assert err.value.status == 400 and err.value.param == param


def test_well_typed_optional_fields_are_kept():
    req = parse({"messages": USER, "model": "tiny", "stop": "</answer>", "seed": 2**63 - 1, "user": "u"})
    assert (req.model, req.stop, req.seed) == ("tiny", ["</answer>"], 2**63 - 1)
    assert parse({"messages": USER, "stop": ["a", "b"]}).stop == ["a", "b"]


def test_deeply_nested_json_body_is_a_400_not_a_crash():
    from geor1.serve.app import ServeSettings, _parse_body

    nested = b'{"messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(RequestRejected) as err:
        _parse_body(nested, ServeSettings())
    assert err.value.status == 400 and "nested too deeply" in err.value.message


def test_chat_request_with_an_oversized_image_decodes_no_image(decoder_calls):
    """Through the whole request parser: a small image before the oversized one is decoded, the oversized
    one (the parser's 413) is not."""
    small = {"type": "image_url", "image_url": {"url": data_url(size=(8, 8))}}
    big = {"type": "image_url", "image_url": {"url": data_url(size=(6000, 10))}}
    with pytest.raises(RequestRejected) as err:
        parse({"messages": [{"role": "user", "content": [small, big]}]})
    assert err.value.status == 413 and err.value.param == "messages[0].content[1]"
    decoders = [call for call in decoder_calls if call.startswith("decoder")]
    assert decoders == ["decoder zip"]  # the 8x8 PNG's one decoder, none for the oversized image
