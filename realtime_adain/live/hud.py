"""Drawing the window's picture: the chosen view, the HUD and the help overlay (OpenCV, BGR)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime_adain.drawn_text import drawable
from realtime_adain.live import keys
from realtime_adain.live.events import number
from realtime_adain.live.inference import at_work_size
from realtime_adain.picture_sizes import resize

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, RED, YELLOW = (255, 255, 255), (40, 40, 230), (60, 220, 255)


@dataclass(frozen=True)
class HudInfo:
    style: str  # "3/18 starry_night"
    thumbnail: np.ndarray | None
    alpha: float
    mix: str  # "" or "+ 25 % wave"
    preserve_color: bool
    fps: float
    latency_ms: float
    size: str  # processing size that runs, e.g. "160x284"
    device: str
    engine: str
    source: str  # source status, e.g. "live" or "camera 0 stopped...; reconnecting in 2 s"
    recording: bool
    paused: bool
    view: str
    stabilize: str = "off"  # the stabiliser's mode as it applies, e.g. "flow" or "stats (eager only: off)"
    notice: str = ""  # the latest output failure, e.g. "recording stopped: No space left on device; kept ..."


def compose(original: np.ndarray, stylized: np.ndarray, view: str, display: tuple[int, int]) -> np.ndarray:
    """The BGR picture to show, `display` = (width, height) of one view (doubled side by side). The
    original is framed as the stylized picture is (`at_work_size`): a source that changed shape
    mid-stream was stretched in the original view, and letterboxed beside it."""
    if view == "original":
        picture = at_work_size(original, display)
    elif view == "side-by-side":
        picture = np.hstack([at_work_size(original, display), resize(stylized, display)])
    else:
        picture = resize(stylized, display)
    return cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)


def _panel(image: np.ndarray, top_left: tuple[int, int], size: tuple[int, int], opacity: float = 0.55) -> None:
    """Darken a rectangle in place so text on it stays readable over any picture."""
    x, y = top_left
    w = min(size[0], image.shape[1] - x)
    h = min(size[1], image.shape[0] - y)
    if w > 0 and h > 0:
        region = image[y:y + h, x:x + w]
        cv2.convertScaleAbs(region, dst=region, alpha=1.0 - opacity)  # in place: no float copy per frame


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, color=WHITE) -> None:
    cv2.putText(image, text, origin, FONT, scale, color, 1, cv2.LINE_AA)


def _scale(image: np.ndarray) -> float:
    return max(0.35, min(0.7, image.shape[0] / 700))


def _width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def _fitted(text: str, scale: float, room: int) -> str:
    """`text` cut to `room` pixels with "..." (a portrait window cut the HUD's and the help's
    lines mid-word at its edge; a 138-character style name ran off it)."""
    if _width(text, scale) <= room:
        return text
    low, high = 0, len(text)  # the most characters that fit with "..."
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _width(text[:middle] + "...", scale) <= room else (low, middle - 1)
    return text[:low] + "..."


def _shrunk(scale: float, widest: int, room: int, least: float = 0.6) -> float:
    """`scale` lowered (to `least` of it at most) so that a line `widest` pixels wide fits `room`."""
    return scale * max(least, min(1.0, room / max(widest, 1)))


def draw_hud(image: np.ndarray, info: HudInfo) -> None:
    scale = _scale(image)
    line = int(26 * scale / 0.55)
    lines = [
        f"style {info.style}" + (f" {info.mix}" if info.mix else ""),
        f"alpha {number(info.alpha)}" + ("  colour preserved" if info.preserve_color else "") + f"  view {info.view}",
        f"{info.fps:4.1f} fps  latency {info.latency_ms:4.0f} ms",
        f"size {info.size}  {info.device}  {info.engine}",
        f"stabilize {info.stabilize}",
    ]
    warnings = len(lines)  # the lines from here on are drawn in yellow
    if info.source != "live":
        lines.append(f"source: {info.source}")
    if info.notice:
        lines.append(info.notice)
    lines = [drawable(text) for text in lines]  # style names and the source come from file names
    room = image.shape[1] - 16
    # Shrunk for the fixed lines only (alpha... stabilize): a long style name or notice is cut
    # instead, not the whole HUD made small for it.
    scale = _shrunk(scale, max(_width(t, scale) for t in lines[1:warnings]), room)
    line = int(26 * scale / 0.55)
    lines = [_fitted(t, scale, room) for t in lines]
    width = max(_width(t, scale) for t in lines) + 16
    _panel(image, (0, 0), (width, line * len(lines) + 10))
    for i, text in enumerate(lines):
        color = YELLOW if i >= warnings else WHITE
        _text(image, text, (8, line * (i + 1)), scale, color)
    if info.thumbnail is not None:
        side = info.thumbnail.shape[0]
        x = image.shape[1] - side - 8
        if x > width and side + 8 < image.shape[0]:
            image[8:8 + side, x:x + side] = info.thumbnail
    badges = [("REC", RED) if info.recording else None, ("PAUSED", YELLOW) if info.paused else None]
    y = image.shape[0] - 12
    for badge in filter(None, badges):
        _panel(image, (0, y - line), (int(90 * scale / 0.55), line + 8))
        _text(image, badge[0], (8, y), scale, badge[1])
        y -= line + 8


def draw_help(image: np.ndarray) -> None:
    """The key table over the picture, its text shrunk to fit: at the window's usual scale a
    640x360 window lost its last line ("q, Esc quit") and a 360x360 one the ends of the lines."""
    rows = keys.help_lines()
    scale = _scale(image)
    widest = max(_width(k, scale) for k, _ in rows) + 20 + max(_width(d, scale) for _, d in rows)
    scale *= max(0.5, min(1.0, (image.shape[0] - 8) / (len(rows) + 0.5) / (24 * scale / 0.55),
                          (image.shape[1] - 48) / widest))
    line = int(24 * scale / 0.55)
    key_width = max(_width(k, scale) for k, _ in rows) + 20
    _panel(image, (0, 0), image.shape[1::-1], opacity=0.75)
    # Centred where the window shows it whole; from the top in a window taller than it is wide
    # (one taller than the screen showed its middle off-screen, the help unseen).
    top = max(line, (image.shape[0] - line * len(rows)) // 2) if image.shape[0] <= image.shape[1] else line
    for i, (key, description) in enumerate(rows):
        y = top + line * i
        _text(image, key, (16, y), scale, YELLOW)
        _text(image, _fitted(description, scale, image.shape[1] - 24 - key_width), (16 + key_width, y), scale)
