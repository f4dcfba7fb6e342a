"""Contact sheet of a few task examples: one row each, the images labelled, the correct pairing candidate
framed in green, and the question and solution as text."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from geor1.builders.export import split_prompt
from geor1.errors import GeoR1Error
from geor1.images import open_image
from geor1.io import atomic_write_bytes
from geor1.records import TaskExample

GREEN = (20, 170, 60)
BACKGROUND = (250, 250, 250)
TEXT = (20, 20, 20)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _tile(path: str | Path, size: int) -> Image.Image:
    """Return the image scaled so its longer side is ``size`` (pixel-sharp when enlarged a lot)."""
    image = open_image(path)
    scale = size / max(image.size)
    resample = Image.Resampling.NEAREST if scale >= 2 else Image.Resampling.LANCZOS
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), resample)


def _captions(example: TaskExample) -> list[str]:
    labels, _ = split_prompt(example.prompt)
    kind = example.meta.get("view")
    fallback = f"{kind} view" if kind and len(labels) == 1 else None
    return [(label or fallback or f"image {i + 1}").rstrip(":") for i, label in enumerate(labels)]


def fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """Return ``text``, or its longest prefix plus "…", that ``font`` draws at most ``width`` pixels wide."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text.rstrip() + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Return ``text`` word-wrapped into at most ``max_lines`` lines no wider than ``width`` pixels (the last
    line, and any single word too long for a line, cut with "…")."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [fit_text(draw, line, font, width) for line in lines]


def caption_lines(
    draw: ImageDraw.ImageDraw,
    caption: str,
    font: Any,
    width: int,
    *,
    correct: bool = False,
    distance_km: float | None = None,
) -> list[str]:
    """Return the (at most two) caption lines of one tile, each fitting ``width`` pixels: the label, then
    "correct" for the answer or the candidate's distance; a plain label wraps over both lines."""
    if distance_km is None and not correct:
        return wrap_text(draw, caption, font, width, max_lines=2)
    second = "correct" if correct else f"{distance_km:.0f} km"
    label = caption.split(" (")[0] if distance_km is not None else caption
    return [fit_text(draw, label, font, width), fit_text(draw, second, font, width)]


# Suffix of the contact sheet's path -> the format written (the bytes match the name).
SHEET_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def contact_sheet(examples: Sequence[TaskExample], out: str | Path, *, tile: int = 160) -> Path:
    """Draw ``examples`` (read by ``read_task_file``: absolute image paths) as a contact sheet at ``out`` (written atomically) in the format its suffix names (PNG, JPEG or WebP);
    return ``out``."""
    fmt = SHEET_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise GeoR1Error(f"{out}: name the contact sheet .png, .jpg or .webp (its format follows the suffix)")
    if not examples:
        raise GeoR1Error("no examples to preview")
    pad, caption_h = 12, 34
    font, small = _font(15), _font(13)
    max_images = max(len(ex.images) for ex in examples)
    width = max(pad + max_images * (tile + pad), 760)
    wrap_chars = max(40, width // 8)
    rows = []
    for ex in examples:
        _, question = split_prompt(ex.prompt)
        lines = [f"{ex.id}  [{ex.task}]"]
        for para in question.split("\n"):
            lines += textwrap.wrap(para, wrap_chars) or [""]
        meta = ex.meta
        solution = f"solution: {ex.solution}"
        if "answer" in meta:
            solution += f" ({meta['answer']})"
        if "band" in meta:
            lo, hi = meta.get("band_km") or (float("nan"), float("nan"))
            solution += (
                f"   band: {meta['band']} [{lo:g}, {hi:g}] km   direction: {meta.get('direction', '')}"
            )
        lines.append(solution)
        rows.append((ex, lines))
    line_h = 19
    heights = [pad + len(lines) * line_h + pad + caption_h + tile + pad for _, lines in rows]
    sheet = Image.new("RGB", (width, sum(heights) + pad), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = pad
    for (ex, lines), h in zip(rows, heights, strict=True):
        meta = ex.meta
        for i, line in enumerate(lines):
            draw.text((pad, y + i * line_h), line, fill=TEXT, font=font)
        top = y + len(lines) * line_h + pad
        correct = 1 + int(meta["answer_index"]) if ex.task == "pairing" and "answer_index" in meta else None
        captions = _captions(ex)
        distances = meta.get("distractor_km") if ex.task == "pairing" else None
        for j, path in enumerate(ex.images):
            x = pad + j * (tile + pad)
            distance = distances[j - 1] if distances is not None and j >= 1 else None
            tile_caption = caption_lines(
                draw, captions[j], small, tile, correct=j == correct, distance_km=distance
            )
            for i, text in enumerate(tile_caption):
                draw.text((x, top + 16 * i), text, fill=GREEN if j == correct else TEXT, font=small)
            image = _tile(path, tile)
            sheet.paste(image, (x + (tile - image.width) // 2, top + caption_h + (tile - image.height) // 2))
            if j == correct:
                draw.rectangle(
                    [x - 5, top + caption_h - 5, x + tile + 4, top + caption_h + tile + 4],
                    outline=GREEN,
                    width=5,
                )
        y += h
        draw.line([(0, y - pad // 2), (width, y - pad // 2)], fill=(200, 200, 200), width=1)
    buffer = io.BytesIO()
    sheet.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    atomic_write_bytes(out, buffer.getvalue())
    return Path(out)
