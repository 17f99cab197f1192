"""A self-contained HTML page to judge mattes by eye, worst photo first.

Per photo: the photo, the ground truth, our matte, plain's matte and two error maps (red: more
opaque than the truth, blue: more transparent), then the same at full resolution in the window
where our error is largest, because a thumbnail hides exactly the edges that matter on a large
photo. Images are embedded as data URIs so the page can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from alphamatte.eval.compare import Comparison, per_mp
from alphamatte.eval.dataset import Pair, Report
from alphamatte.imaging.resize import fit_long_side

THUMB_SIDE = 320
CROP_SIDE = 256  # full-resolution pixels


@dataclass
class _Panels:
    thumbs: dict[str, str] = field(default_factory=dict)  # label -> data URI
    crops: dict[str, str] = field(default_factory=dict)
    window: tuple[int, int] = (0, 0)  # (left, top) of the crop


def _uri(pixels: np.ndarray, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, quality=85)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def _thumb(pixels: np.ndarray) -> np.ndarray:
    width, height = fit_long_side(pixels.shape[1], pixels.shape[0], THUMB_SIDE)
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BOX)
    return np.asarray(image)


def error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """RGB: red where ``pred`` is more opaque than ``gt``, blue where more transparent.

    The square root lifts small errors (a 10 % fringe) into view without saturating big ones.
    """
    diff = (pred.astype(np.float32) - gt.astype(np.float32)) / 255.0
    out = np.zeros((*diff.shape, 3), dtype=np.uint8)
    out[:, :, 0] = np.rint(255 * np.sqrt(np.clip(diff, 0, 1)))
    out[:, :, 2] = np.rint(255 * np.sqrt(np.clip(-diff, 0, 1)))
    return out


def worst_window(pred: np.ndarray, gt: np.ndarray, side: int = CROP_SIDE) -> tuple[int, int]:
    """(left, top) of the ``side``-pixel square holding the most absolute error."""
    height, width = gt.shape
    side = min(side, height, width)
    error = np.abs(pred.astype(np.float32) - gt.astype(np.float32))
    integral = np.pad(error.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[side:, side:]
        - integral[:-side, side:]
        - integral[side:, :-side]
        + integral[:-side, :-side]
    )
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(left), int(top)


class VisualReport:
    """Collects thumbnails while an evaluation runs; :meth:`write` renders the page."""

    def __init__(self) -> None:
        self._panels: dict[tuple[str, str], _Panels] = {}

    def keep(
        self, pair: Pair, rgb: np.ndarray, gt: np.ndarray, mattes: dict[str, np.ndarray]
    ) -> None:
        """Thumbnails of ``mattes`` (our pipeline first, plain last) and their error maps."""
        panels = self._panels.setdefault((pair.source, pair.name), _Panels())
        ours = next(iter(mattes.values()))
        left, top = panels.window = worst_window(ours, gt)

        def crop(pixels: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(pixels[top : top + CROP_SIDE, left : left + CROP_SIDE])

        panels.thumbs["photo"] = _uri(_thumb(rgb), "JPEG")
        panels.thumbs["truth"] = _uri(_thumb(gt))
        panels.crops["photo"] = _uri(crop(rgb), "JPEG")
        panels.crops["truth"] = _uri(crop(gt))
        for name, pred in mattes.items():
            panels.thumbs[name] = _uri(_thumb(pred))
            panels.thumbs[f"{name} error"] = _uri(_thumb(error_map(pred, gt)))
            panels.crops[name] = _uri(crop(pred))
            panels.crops[f"{name} error"] = _uri(error_map(crop(pred), crop(gt)))

    def write(
        self, path: Path, title: str, ours: Report, plain: Report, summary: list[Comparison]
    ) -> None:
        base = {(r.pair.source, r.pair.name): r for r in plain.results}
        ordered = sorted(ours.results, key=lambda r: per_mp(r)["sad"], reverse=True)
        parts = [
            "<!doctype html><meta charset=utf-8>",
            f"<title>{html.escape(title)}</title>",
            "<style>body{font:14px system-ui;margin:1em;background:#fafafa}"
            "figure{display:inline-block;margin:2px;text-align:center}"
            "img{display:block;background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%)"
            " 0 0/16px 16px;max-width:320px}section{margin:1.5em 0;border-top:1px solid #ccc}"
            "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}</style>",
            f"<h1>{html.escape(title)}</h1>",
            _summary_table(summary),
        ]
        for rank, result in enumerate(ordered, 1):
            key = (result.pair.source, result.pair.name)
            panels = self._panels.get(key, _Panels())
            reference = base[key]
            mine, theirs = per_mp(result), per_mp(reference)
            width, height = result.size
            ratio = mine["sad"] / theirs["sad"] if theirs["sad"] > 0 else 1.0
            parts.append(
                f"<section><h2>{rank}. {html.escape(result.pair.source)}/"
                f"{html.escape(result.pair.name)} <small>{width}×{height}</small></h2>"
                f"<p>SAD/MP ours {mine['sad']:.2f}, plain {theirs['sad']:.2f} "
                f"(<b>{ratio:.2f}×</b>); gradient/MP ours {mine['gradient']:.3f}, "
                f"plain {theirs['gradient']:.3f}</p>"
            )
            for label, uri in panels.thumbs.items():
                parts.append(_figure(label, uri))
            left, top = panels.window
            parts.append(f"<p>Full resolution, {CROP_SIDE} px from ({left}, {top}):</p>")
            for label, uri in panels.crops.items():
                parts.append(_figure(label, uri))
            parts.append("</section>")
        path.write_text("\n".join(parts), encoding="utf-8")


def _figure(label: str, uri: str) -> str:
    return f"<figure><img src='{uri}'><figcaption>{html.escape(label)}</figcaption></figure>"


def _summary_table(summary: list[Comparison]) -> str:
    rows = [
        "<table><tr><th>group</th><th>photos</th><th>SAD/MP ours</th><th>plain</th>"
        "<th>ratio</th><th>median ratio</th><th>wins</th><th>gradient ratio</th></tr>"
    ]
    for c in summary:
        rows.append(
            f"<tr><td>{html.escape(c.group)}</td><td>{c.count}</td><td>{c.ours['sad']:.2f}</td>"
            f"<td>{c.plain['sad']:.2f}</td><td>{c.ratio('sad'):.2f}×</td>"
            f"<td>{c.median_sad_ratio:.2f}×</td><td>{c.wins}/{c.count}</td>"
            f"<td>{c.ratio('gradient'):.2f}×</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)
