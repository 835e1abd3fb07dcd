"""An image is accepted only if it decodes to its last pixel, as the type it claims, within the caps."""

import io
import zlib

import pytest
from PIL import Image

from bot.jobs import images


def encoded(fmt: str, size=(64, 48), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content_type", "fmt"), [("image/png", "PNG"), ("image/jpeg", "JPEG"), ("image/webp", "WEBP")]
)
def test_a_real_image_decodes(content_type, fmt):
    images.decode(content_type, encoded(fmt))


def test_a_png_header_on_a_garbage_body_is_refused():
    with pytest.raises(images.ImageRefused, match="damaged or incomplete"):
        images.decode("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)


def png_with_bad_pixels() -> bytes:
    """A well-formed PNG (good header and CRCs) whose compressed pixel data is garbage."""
    good = encoded("PNG")
    start = good.index(b"IDAT") - 4
    length = int.from_bytes(good[start : start + 4], "big")
    body = b"\x78\x9c" + bytes(range(7, 7 + length - 2))
    chunk = length.to_bytes(4, "big") + b"IDAT" + body + zlib.crc32(b"IDAT" + body).to_bytes(4, "big")
    return good[:start] + chunk + good[start + 12 + length :]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("image/png", encoded("PNG")[:-40]),  # truncated
        ("image/jpeg", encoded("JPEG", size=(640, 480))[:600]),  # truncated mid-scan
        ("image/webp", encoded("WEBP")[:30]),
        ("image/png", png_with_bad_pixels()),
    ],
)
def test_a_broken_image_is_refused(content_type, data):
    with pytest.raises(images.ImageRefused, match="damaged or incomplete"):
        images.decode(content_type, data)


def test_contents_must_match_the_declared_type():
    with pytest.raises(images.ImageRefused, match="isn't really"):
        images.decode("image/png", encoded("JPEG"))


def test_too_many_pixels_is_refused_before_decoding():
    huge = encoded("PNG", size=(8000, 6000), mode="L")  # 48 MP, a few kB compressed
    with pytest.raises(images.ImageRefused, match="8000×6000 pixels; the limit is 40 megapixels"):
        images.decode("image/png", huge)
