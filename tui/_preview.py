"""Snapshot previews in the terminal: an image drawn with half blocks (two pixels a cell).

PNG is decoded here in pure Python (zlib and the five PNG filters), so the console needs
no imaging library. Other formats (JPEG from cameras) are decoded with OpenCV when the
console machine has it, else the preview says plainly that it cannot show them. Decoding
is CPU work: callers run :func:`render_preview` in a thread.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

MAX_PIXELS = 4_000_000
"""Bigger images are not decoded in pure Python (seconds of CPU on a truck laptop)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PreviewError(ValueError):
    """The image cannot be previewed (format, size or corrupt data)."""


@dataclass(frozen=True)
class Image:
    """Decoded RGB pixels, row-major."""

    width: int
    height: int
    rgb: bytes
    """``width * height * 3`` bytes."""

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        at = (y * self.width + x) * 3
        return self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]


def decode_png(data: bytes) -> Image:
    """Decode an 8-bit, non-interlaced PNG (grey, RGB, palette, with or without alpha)."""
    if not data.startswith(_PNG_SIGNATURE):
        raise PreviewError("not a PNG file")
    pos, header, palette, idat = 8, b"", b"", bytearray()
    while pos + 8 <= len(data):
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if tag == b"IHDR":
            header = chunk
        elif tag == b"PLTE":
            palette = chunk
        elif tag == b"IDAT":
            idat += chunk
        elif tag == b"IEND":
            break
    if len(header) != 13:
        raise PreviewError("PNG has no valid IHDR chunk")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise PreviewError(f"PNG with bit depth {depth}, colour type {colour}, interlace "
                           f"{interlace} is not supported (8-bit, non-interlaced only)")
    if width * height > MAX_PIXELS or not width or not height:
        raise PreviewError(f"PNG of {width}x{height} pixels is too large to preview")
    if colour == 3 and not palette:
        raise PreviewError("palette PNG has no PLTE chunk")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise PreviewError(f"PNG data is corrupt: {exc}") from exc
    bpp = _CHANNELS[colour]
    stride = width * bpp
    if len(raw) < (stride + 1) * height:
        raise PreviewError("PNG data is truncated")
    rows = _unfilter(raw, width, height, bpp)
    out = bytearray(width * height * 3)
    o = 0
    for row in rows:
        for x in range(width):
            px = row[x * bpp:(x + 1) * bpp]
            if colour == 2 or colour == 6:
                out[o:o + 3] = px[:3]
            elif colour == 3:
                entry = palette[px[0] * 3:px[0] * 3 + 3]
                if len(entry) != 3:
                    raise PreviewError(f"PNG palette has no colour {px[0]}")
                out[o:o + 3] = entry
            else:
                out[o:o + 3] = bytes((px[0], px[0], px[0]))
            o += 3
    return Image(width, height, bytes(out))


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> list[bytearray]:
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            raise PreviewError(f"PNG row {y} has unknown filter type {kind}")
        rows.append(line)
        prev = line
    return rows


def decode_with_opencv(data: bytes) -> Image:
    """JPEG and the rest, when OpenCV is installed on the console machine."""
    try:
        cv2 = importlib.import_module("cv2")
        numpy = importlib.import_module("numpy")
    except ImportError as exc:
        raise PreviewError("this console has no decoder for this image type "
                           "(PNG only; install OpenCV for JPEG)") from exc
    frame = cv2.imdecode(numpy.frombuffer(data, dtype=numpy.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise PreviewError("the image data is corrupt")
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return Image(int(rgb.shape[1]), int(rgb.shape[0]), rgb.tobytes())


def decode(data: bytes, mime: str) -> Image:
    if data.startswith(_PNG_SIGNATURE):
        return decode_png(data)
    return decode_with_opencv(data)


def to_text(image: Image, max_width: int, max_height: int) -> Text:
    """Half-block rendering: each cell shows two vertically stacked pixels."""
    scale = max(image.width / max_width, image.height / (max_height * 2), 1e-9)
    cols = max(1, min(max_width, round(image.width / scale)))
    rows = max(1, min(max_height, round(image.height / scale / 2)))
    text = Text(no_wrap=True, overflow="crop")
    for r in range(rows):
        for c in range(cols):
            x = min(image.width - 1, int((c + 0.5) * image.width / cols))
            top_y = min(image.height - 1, int((2 * r + 0.5) * image.height / (rows * 2)))
            bottom_y = min(image.height - 1, int((2 * r + 1.5) * image.height / (rows * 2)))
            top, bottom = image.pixel(x, top_y), image.pixel(x, bottom_y)
            text.append("▀", Style(color=_hex(top), bgcolor=_hex(bottom)))
        if r < rows - 1:
            text.append("\n")
    return text


def render_preview(data: bytes, mime: str, max_width: int = 40, max_height: int = 12) -> Text:
    """Decode and draw; raises PreviewError with a crew-readable reason."""
    return to_text(decode(data, mime), max_width, max_height)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def make_png(width: int, height: int) -> bytes:
    """A small RGB PNG (used by tests, the demo and the bench): a gradient by default."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw += bytes((x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), 96))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(
            ">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (_PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw)))
            + chunk(b"IEND", b""))
