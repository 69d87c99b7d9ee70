"""A corpus of hostile, damaged and odd image files, made here, sent to a real ``cnnlab serve`` process and
to ``cnnlab predict``: every answer is a prediction or a documented refusal with a one-line reason.

The server answers 200 or a documented 4xx with ``{"error"}`` for each (never 5xx), keeps answering
``/api/health``, and logs no traceback; ``cnnlab predict`` over the whole corpus (with good images among it)
exits 0 with an ``error`` for each file it could not use."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from _photos import encode, ink_from_pen, photograph, to_16bit_grey
from _servers import post_image, serving

DOCUMENTED = {200, 400, 413, 422}  # what SERVING.md lists for an upload that reaches the decoder


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(chunks: list[bytes], width: int = 8, height: int = 8, depth: int = 8, colour: int = 0,
              idat: bytes | None = None) -> bytes:
    """A PNG built chunk by chunk: IHDR as given, extra chunks, one IDAT (zeros unless given), IEND."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    if idat is None:
        idat = zlib.compress(b"\0" * (min(height, 64) * (min(width, 64) + 1)))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _exif_jpeg(photo: Image.Image, orientation) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(photo.convert("RGB"), "JPEG", exif=exif.tobytes())


def _gif(frames: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def corpus(photo: Image.Image) -> dict[str, bytes]:
    """About 60 files: ``good-*`` hold a digit in some format or mode; the rest are damaged or hostile."""
    png, jpeg, gif = encode(photo), encode(photo.convert("RGB"), "JPEG"), encode(photo.convert("P"), "GIF")
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024))  # 64 MB of zeros in ~64 kB: past Pillow's text limits
    grey = photo.convert("L")
    small = grey.resize((64, 48))
    files = {
        # good images, in every format and mode cnnlab documents
        "good-png": png,
        "good-jpeg": jpeg,
        "good-gif": gif,
        "good-bmp": encode(photo.convert("RGB"), "BMP"),
        "good-tiff": encode(grey, "TIFF"),
        "good-tiff-float": encode(Image.fromarray(np.asarray(grey, np.float32) / 255.0, "F"), "TIFF"),
        "good-webp": encode(photo.convert("RGB"), "WEBP"),
        "good-png16": encode(to_16bit_grey(np.asarray(photo.convert("RGB")))),
        "good-png-la": encode(grey.convert("LA")),
        "good-png-palette-alpha": encode(photo.convert("RGBA").convert("P")),
        "good-png-1bit": encode(grey.point(lambda v: 255 if v > 128 else 0).convert("1")),
        "good-cmyk-jpeg": encode(photo.convert("CMYK"), "JPEG"),
        "good-animated-gif": _gif([photo.convert("P"), Image.new("P", photo.size, 0)]),
        "good-multipage-tiff": _multipage_tiff([grey, Image.new("L", grey.size, 0)]),
        "good-ppm": encode(photo.convert("RGB"), "PPM"),
        "good-pgm": encode(grey, "PPM"),
        "good-exif-rotated": _exif_jpeg(photo, 6),
        "good-exif-orientation-0": _exif_jpeg(photo, 0),
        "good-exif-orientation-9": _exif_jpeg(photo, 9),
        "good-exif-orientation-huge": _exif_jpeg(photo, 65535),
        "good-polyglot-png-zip": png + b"PK\x03\x04" + b"\0" * 26 + b"<html><script>alert(1)</script></html>",
        "good-small-64x48": encode(small),
        # no ink: 422
        "blank-1x1": encode(Image.new("L", (1, 1), 255)),
        "blank-1x1-black": encode(Image.new("RGB", (1, 1), 0)),
        "blank-white": encode(Image.new("RGB", (200, 100), (250, 250, 250))),
        "blank-1x4000": encode(Image.new("L", (1, 4000), 128)),
        # not images, damaged images: 400
        "zero-bytes": b"",
        "one-byte": b"\x89",
        "text": b"hello, this is not a picture\n",
        "html": b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="9"/></svg>',
        "json": b'{"image": "7"}',
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "zip": b"PK\x03\x04" + b"\0" * 60,
        "random-bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "nul-bytes": b"\0" * 1024,
        "truncated-png-third": png[: len(png) // 3],
        "truncated-png-signature": png[:8],
        "truncated-png-ihdr": png[:33],
        "png-no-idat": b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
        + _chunk(b"IEND", b""),
        "png-bad-crc": png[:29] + bytes([png[29] ^ 0xFF]) + png[30:],
        "png-zero-width": _png_with([], width=0, height=8),
        "png-bad-depth": _png_with([], depth=7),
        "png-idat-garbage": _png_with([], idat=b"this is not zlib data"),
        "png-ztxt-bomb": _png_with([_chunk(b"zTXt", b"comment\0\0" + bomb)]),
        "png-iccp-bomb": _png_with([_chunk(b"iCCP", b"profile\0\0" + bomb)]),
        "png-itxt-bomb": _png_with([_chunk(b"iTXt", b"comment\0\1\0\0\0" + bomb)]),
        "png-many-text-chunks": _png_with([_chunk(b"tEXt", b"k%d\0" % i + b"v" * 1000) for i in range(300)]),
        "truncated-jpeg-half": jpeg[: len(jpeg) // 2],
        "truncated-jpeg-soi": jpeg[:2],
        "truncated-jpeg-header": jpeg[:200],
        "truncated-gif-half": gif[: len(gif) // 2],
        "truncated-gif-header": b"GIF89a",
        "gif-polyglot-js": b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1);",
        "truncated-bmp": encode(photo.convert("RGB"), "BMP")[:60],
        "truncated-tiff": encode(grey, "TIFF")[:100],
        "truncated-webp": encode(photo.convert("RGB"), "WEBP")[:40],
        "netpbm-p6": b"P6\n",
        "netpbm-p1": b"P1",
        "netpbm-pf": b"Pf",
        "netpbm-p5-short": b"P5 1",
        "netpbm-p4-truncated": b"P4\n1 1\n",
        "netpbm-p5-negative": b"P5\n-1 -1\n255\n",
        "ico": _ico(small),
        "psd-stub": b"8BPS\x00\x01" + b"\0" * 20,
        # more pixels than allowed: 413 (from the header, before decoding)
        "huge-png-dimensions": _png_with([], width=100_000, height=100_000),
        "bomb-png-30000-square": _png_with([], width=30_000, height=30_000),
        "wide-png-4097": encode(Image.new("L", (4097, 4), 255)),
        "huge-gif-screen": b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00" + struct.pack("<HH", 65535, 65535) + b"\x00\x02\x02\x44\x01\x00;",
        "huge-bmp-header": b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 60000,
                                                                                  60000, 1, 24, 0, 0, 0, 0, 0, 0),
        "huge-pgm-header": b"P5\n99999 99999\n255\n" + b"\0" * 64,
        "huge-tiff-dimensions": _tiff_header(70000, 70000),
    }
    return files


def _multipage_tiff(pages: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def _ico(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "ICO", sizes=[(48, 48)])
    return buffer.getvalue()


def _tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose first IFD claims ``width`` x ``height`` 8-bit grey pixels and has none."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (278, 4, 1, 1), (279, 4, 1, width)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    ink = ink_from_pen(7, np.random.default_rng(5), height=150, pen=6)
    return Image.fromarray(photograph(ink, np.random.default_rng(6), size=(240, 200)))


@pytest.fixture(scope="module")
def files(photo) -> dict[str, bytes]:
    return corpus(photo)


@pytest.fixture(scope="module")
def server(tiny_run):
    with serving(tiny_run.path) as running:
        yield running


def test_the_corpus_is_big_enough(files):
    assert len(files) >= 40 and sum(not name.startswith("good") for name in files) >= 40


def test_every_upload_gets_a_prediction_or_a_documented_refusal(server, files):
    answers = {}
    for name, data in files.items():
        status, body = post_image(server.url, data, filename=f"{name}.bin")
        answers[name] = status
        assert status in DOCUMENTED, f"{name}: {status} {body!r}"
        if status == 200:
            assert set(body) >= {"label", "probabilities", "preview"}, name
        else:
            assert set(body) == {"error"} and "\n" not in body["error"] and body["error"], f"{name}: {body!r}"
        health = server.get("/api/health")
        assert health[0] == 200, f"after {name}: {health}"
    good = [name for name in files if name.startswith("good")]
    assert all(answers[name] == 200 for name in good), {name: answers[name] for name in good}
    assert all(answers[name] == 422 for name in files if name.startswith("blank")), answers
    assert all(answers[name] == 413 for name in files if name.startswith(("huge", "bomb", "wide"))), answers
    assert all(answers[name] == 400 for name in ("zero-bytes", "netpbm-p6", "netpbm-p1", "netpbm-pf",
                                                 "png-ztxt-bomb", "png-iccp-bomb", "eps", "html")), answers
    assert "Traceback" not in server.log() and "Exception" not in server.log(), server.log()


def test_predict_over_the_corpus_gives_a_prediction_or_an_error_per_file(tiny_run, files, tmp_path):
    for name, data in files.items():
        (tmp_path / f"{name}.png").write_bytes(data)
    command = [sys.executable, "-m", "cnnlab", "predict", str(tiny_run.path), str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    predictions = {p["file"].rsplit("/", 1)[-1][:-4]: p for p in json.loads(done.stdout)["predictions"]}
    assert set(predictions) == set(files)
    for name, prediction in predictions.items():
        if name.startswith("good"):
            assert prediction["label"] in range(10) and "error" not in prediction, (name, prediction)
        else:
            assert prediction["label"] is None and prediction["error"].count("\n") == 0, (name, prediction)
            assert prediction["error"].startswith(str(tmp_path)), (name, prediction)


def test_predict_good_bomb_and_netpbm_stub(cli, tiny_run, files, tmp_path):
    """The issue's own command: ``cnnlab predict RUN good.png bomb.png p6.bin`` exits 0."""
    for name, key in (("good.png", "good-png"), ("bomb.png", "png-ztxt-bomb"), ("p6.bin", "netpbm-p6")):
        (tmp_path / name).write_bytes(files[key])
    code, out, err = cli("predict", str(tiny_run.path), *(str(tmp_path / n) for n in ("good.png", "bomb.png",
                                                                                          "p6.bin")), "--json")
    assert code == 0, err
    good, bomb, stub = json.loads(out)["predictions"]
    assert good["label"] in range(10) and "error" not in good
    assert bomb["label"] is None and "damaged" in bomb["error"]
    assert stub["label"] is None and "damaged" in stub["error"]
