"""Bar charts without a plotting library: terminal bars, a hand-written SVG and a tiny PNG encoder
(zlib + CRC chunks). The PNG has bars only; the SVG carries the labels."""

from __future__ import annotations

import struct
import zlib
from html import escape

__all__ = ["png_bars", "svg_bars", "text_bars"]

_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


def text_bars(rows: list[tuple[str, int, str]], width: int = 40) -> list[str]:
    """``rows`` are (label, value, shown value); one line per row."""
    top = max((v for _, v, _ in rows), default=0) or 1
    pad = max((len(label) for label, _, _ in rows), default=0)
    return [f"{label.ljust(pad)} {'█' * max(0, round(v * width / top))} {shown}" for label, v, shown in rows]


def svg_bars(rows: list[tuple[str, int, str]], title: str) -> str:
    bar_h, gap, left, width = 22, 8, 230, 420
    top = max((v for _, v, _ in rows), default=0) or 1
    height = 50 + len(rows) * (bar_h + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 160}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, v, shown) in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        w = max(1, v * width // top) if v else 0
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{w}" height="{bar_h}" fill="{_COLORS[i % len(_COLORS)]}"/>'
        )
        parts.append(f'<text x="{left + w + 6}" y="{y + 15}">{escape(shown)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bars(rows: list[tuple[str, int, str]], width: int = 480, bar_h: int = 20, gap: int = 8) -> bytes:
    top = max((v for _, v, _ in rows), default=0) or 1
    height = gap + len(rows) * (bar_h + gap)
    pixels = [[(255, 255, 255)] * width for _ in range(height)]
    for i, (_, v, _) in enumerate(rows):
        c = _COLORS[i % len(_COLORS)]
        rgb = (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16))
        w = max(1, v * (width - 2 * gap) // top) if v else 0
        y0 = gap + i * (bar_h + gap)
        for y in range(y0, y0 + bar_h):
            for x in range(gap, gap + w):
                pixels[y][x] = rgb
    raw = b"".join(b"\x00" + bytes(b for px in row for b in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
