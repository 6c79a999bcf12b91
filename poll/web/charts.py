"""Server-rendered SVG charts: no script, no CDN, every text escaped.

Each function returns Markup holding one <svg>. With `rtl` the charts mirror,
so bars grow from the right as Arabic and Kurdish readers expect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from poll.stats.proportions import shown_percentages

PALETTE = ("#b23a48", "#e09f3e", "#2a7f62", "#3c6e9f", "#7b5ea7", "#6b7280")
TRUTH = "#111827"
# Answers counted without their options (answers over time).
VOLUME = "#3c6e9f"
MUTED = "#6b7280"
GRID = "#e5e7eb"


def colour(index: int) -> str:
    """The colour of the option at `index`."""
    return PALETTE[index % len(PALETTE)]


def ink_on(fill: str) -> str:
    """Black or white, whichever reads better on `fill` ("#rrggbb"), by WCAG contrast."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(fill[k:k + 2], 16) for k in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#111827" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


class _Canvas:
    """Collects SVG elements, mirroring x when right-to-left.

    Charts reflow: x is laid out on a `width`-unit design grid but written as a percentage of the
    chart's rendered width, y and every font size in CSS pixels, and there is no viewBox. A chart is
    as wide as its column and its text keeps its size at any width; a scaled viewBox shrank labels
    to 6 px on a 360 px phone.
    """

    def __init__(self, width: int, height: int, rtl: bool, title: str, *, fixed: bool = False):
        # `fixed`: drawn at its design width in pixels (a map, whose tiles cannot reflow).
        self.width, self.height, self.rtl = width, height, rtl
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width if fixed else "100%"}" height="{height}" '
            f'role="img" aria-label="{escape(title)}" class="chart">',
            f"<title>{escape(title)}</title>",
        ]

    def x(self, value: float) -> float:
        return self.width - value if self.rtl else value

    def pct(self, value: float) -> str:
        """A design-grid x (or width) as a percentage of the rendered width."""
        return f"{100 * value / self.width:.2f}%"

    def rect(self, x: float, y: float, w: float, h: float, fill: str, extra: str = "") -> None:
        left = self.x(x + w) if self.rtl else x
        self.parts.append(
            f'<rect x="{self.pct(left)}" y="{y:.1f}" width="{self.pct(max(w, 0))}" height="{h:.1f}" '
            f'fill="{fill}"{extra}/>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1.5, dash: str = "") -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{self.pct(self.x(x1))}" y1="{y1:.1f}" x2="{self.pct(self.x(x2))}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="{width}"{dashed}/>'
        )

    def text(self, x: float, y: float, content: str, *, anchor: str = "start", size: int = 13,
             fill: str = "#1f2937", weight: str = "normal") -> None:
        if self.rtl:
            anchor = {"start": "end", "end": "start"}.get(anchor, anchor)
            # A right-to-left isolate: "1. <answer>" reads number first, on the right, as on the page.
            content = f"\u2067{content}\u2069"
        self.parts.append(
            # direction="ltr" keeps the anchors literal; the isolate sets the reading order.
            f'<text x="{self.pct(self.x(x))}" y="{y:.1f}" text-anchor="{anchor}" direction="ltr" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(content)}</text>'
        )

    def diamond(self, x: float, y: float, size: float, fill: str) -> None:
        # Points take no percentages: the diamond is drawn around the origin of a nested svg placed at x.
        points = f"0,{-size:.1f} {size:.1f},0 0,{size:.1f} {-size:.1f},0"
        self.parts.append(
            f'<svg x="{self.pct(self.x(x))}" y="{y:.1f}" overflow="visible">'
            f'<polygon points="{points}" fill="{fill}" stroke="#fff" stroke-width="1"/></svg>'
        )

    def describe(self, text: str) -> None:
        """What the chart shows, in words: read by screen readers after its title."""
        self.parts.insert(2, f"<desc>{escape(text)}</desc>")

    def done(self) -> Markup:
        return Markup("".join(self.parts) + "</svg>")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _shown(shares: Sequence[float | None], decimals: int = 1) -> list[str | None]:
    # The shares of one set as written on a chart, rounded together so that they sum to 100%.
    return [None if percent is None else f"{percent:.{decimals}f}%"
            for percent in shown_percentages(shares, decimals)]


@dataclass
class ShareRow:
    label: str
    share: float
    ci95: tuple[float, float] | None
    weighted: float | None = None
    true: float | None = None
    weighted_ci95: tuple[float, float] | None = None


def share_bars(rows: Sequence[ShareRow], *, rtl: bool, title: str, legend: dict[str, str]) -> Markup:
    """Each answer's raw share as a bar with its interval; below it, apart, the weighted estimate with its own;
    the truth (simulations) a dashed line across both. The legend is HTML above the chart, so it wraps."""
    width, left, right, row_h, line_h = 640, 12, 120, 76, 18
    # SVG text does not wrap: a label longer than a phone's line is broken at spaces, a line of its own each.
    labels = [_lines(row.label, LABEL_CHARS) for row in rows]
    height = 8 + sum(row_h + line_h * (len(lines) - 1) for lines in labels)
    canvas = _Canvas(width, height, rtl, title)
    span = width - left - right
    items = [(legend["raw"], "bar")]
    if any(row.weighted is not None for row in rows):
        items.append((legend["weighted"], "diamond"))
    if any(row.true is not None for row in rows):
        items.append((legend["true"], "truth"))
    described = []
    raw, weighted, true = (_shown([getattr(row, name) for row in rows]) for name in ("share", "weighted", "true"))
    y = 8 - row_h
    for i, (row, lines) in enumerate(zip(rows, labels, strict=True)):
        y += row_h
        for k, line in enumerate(lines):
            canvas.text(left, y + 10 + line_h * k, line, size=14, weight="600")
        y += line_h * (len(lines) - 1)
        bar_y = y + 18
        canvas.rect(left, bar_y, span, 18, GRID)
        canvas.rect(left, bar_y, span * row.share, 18, colour(i))
        if row.ci95 is not None:  # public raw shares carry none: they are no random sample's
            _whisker(canvas, left, span, row.ci95, bar_y + 9)
        # Figures end at the chart's far edge, whatever its width.
        canvas.text(width - 4, bar_y + 14, raw[i], size=14, weight="600", anchor="end")
        summary = f"{row.label}: {raw[i]}" + (
            f" ({_pct(row.ci95[0])}–{_pct(row.ci95[1])})" if row.ci95 is not None else "")
        if row.weighted is not None:
            mark_y = bar_y + 32
            if row.weighted_ci95 is not None:
                _whisker(canvas, left, span, row.weighted_ci95, mark_y)
            canvas.diamond(left + span * row.weighted, mark_y, 6, TRUTH)
            canvas.text(width - 4, mark_y + 5, weighted[i], size=13, fill=MUTED, anchor="end")
            summary += f"; {legend['weighted']} {weighted[i]}"
        if row.true is not None:
            canvas.line(left + span * row.true, bar_y - 4, left + span * row.true, bar_y + 40, TRUTH, 2, "3,2")
            summary += f"; {legend['true']} {true[i]}"
        described.append(summary)
    canvas.describe(". ".join(described))
    return _legend(items) + canvas.done()


# About as many characters of a 14 px label as fit the narrowest phone's chart (286 px at 360 px).
LABEL_CHARS = 30


def _lines(text: str, width: int) -> list[str]:
    """`text` broken at spaces into lines of at most `width` characters (a longer word keeps its own line)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _whisker(canvas: _Canvas, left: float, span: float, interval: tuple[float, float], y: float) -> None:
    low, high = interval
    canvas.line(left + span * low, y, left + span * high, y, TRUTH, 1.5)
    for end in (low, high):
        canvas.line(left + span * end, y - 5, left + span * end, y + 5, TRUTH, 1.5)


def _legend(items: list[tuple[str, str]]) -> Markup:
    # In HTML, so that it wraps on a narrow screen; the bar's swatch shows the answers' own colours.
    marks = {
        "bar": "".join(f'<rect x="{5 * k}" y="2" width="5" height="12" fill="{colour(k)}"/>' for k in range(3)),
        "diamond": f'<polygon points="7,3 12,8 7,13 2,8" fill="{TRUTH}"/>',
        "truth": f'<line x1="7" y1="0" x2="7" y2="16" stroke="{TRUTH}" stroke-width="2" stroke-dasharray="3,2"/>',
    }
    return Markup('<p class="legend chart-legend">') + Markup("").join(
        Markup('<span><svg width="15" height="16" aria-hidden="true" focusable="false">{}</svg> {}</span> ').format(
            Markup(marks[kind]), label)
        for label, kind in items
    ) + Markup("</p>")


def funnel(steps: Sequence[tuple[str, int]], *, rtl: bool, title: str) -> Markup:
    """Bars for invited -> sent -> delivered -> opened -> answered, with the share of the first step.

    Each step's name and figures sit on a line above its bar, so neither is squeezed on a phone.
    """
    width, left, row_h = 640, 12, 46
    canvas = _Canvas(width, 8 + row_h * len(steps), rtl, title)
    base = steps[0][1] if steps and steps[0][1] else 0
    span = width - 2 * left
    for i, (label, value) in enumerate(steps):
        y = 6 + i * row_h
        share = value / base if base else 0.0
        canvas.text(left, y + 14, label, size=13)
        canvas.text(width - left, y + 14, f"{value:,}" + (f"  ({_pct(share)})" if base and i else ""), size=13,
                    anchor="end")
        canvas.rect(left, y + 20, span, 18, GRID)
        canvas.rect(left, y + 20, span * share, 18, PALETTE[3])
    canvas.describe("; ".join(f"{label}: {value:,}" for label, value in steps))
    return canvas.done()


def timeline(series: Sequence[tuple[datetime, int]], *, rtl: bool, title: str, empty: str,
             time_label: Callable[[datetime], str], peak_label: Callable[[int, int], str]) -> Markup:
    """Answers over time, all answers together, in bins that fit the span (an hour up to a week).

    `time_label` writes a bin's start in the reader's language; `peak_label(count,
    hours)` says the tallest bar's count and its width.
    """
    width, height, pad = 640, 180, 30
    canvas = _Canvas(width, height, rtl, title)
    if not series:
        canvas.text(width / 2, height / 2, empty, anchor="middle", fill=MUTED)
        return canvas.done()
    hours = bin_hours(series[0][0], series[-1][0])
    series = _buckets(series, hours)
    peak = max(count for _, count in series) or 1
    step = (width - 2 * pad) / max(len(series), 12)  # a lone bin is a bar, not the whole width
    for i, (_start, count) in enumerate(series):
        h = (height - 2 * pad) * count / peak
        canvas.rect(pad + i * step, height - pad - h, max(step - 1, 1), h, VOLUME)
    canvas.line(pad, height - pad, width - pad, height - pad, MUTED, 1)
    first, last = series[0][0], series[-1][0] + timedelta(hours=hours)
    canvas.text(pad, height - 10, time_label(first), size=13, fill=MUTED)
    if len(series) > 1:
        canvas.text(width - pad, height - 10, time_label(last), size=13, fill=MUTED, anchor="end")
    canvas.text(pad, 18, peak_label(peak, hours), size=13, fill=MUTED)
    canvas.describe(f"{time_label(first)} – {time_label(last)}: {sum(count for _, count in series):,}; "
                    f"{peak_label(peak, hours)}")
    return canvas.done()


MAX_BARS = 96
BIN_HOURS = (1, 2, 3, 6, 12, 24, 48, 168)  # the widths a bin may have: hours, days, a week


def bin_hours(first: datetime, last: datetime) -> int:
    """The narrowest bin width in BIN_HOURS that draws `first` to `last` in at most MAX_BARS bars."""
    span = int((last - first).total_seconds() // 3600) + 1
    return next((width for width in BIN_HOURS if -(-span // width) <= MAX_BARS), BIN_HOURS[-1])


def _buckets(series: Sequence[tuple[datetime, int]], width: int) -> list[tuple[datetime, int]]:
    # One bar per `width` hours from the first answer to the last, empty ones
    # included, so the chart's size stays the same however long the poll runs.
    start = series[0][0]
    hours = int((series[-1][0] - start).total_seconds() // 3600) + 1
    bars = [0] * -(-hours // width)
    for hour, count in series:
        bars[int((hour - start).total_seconds() // 3600) // width] += count
    return [(start + timedelta(hours=i * width), count) for i, count in enumerate(bars)]


# Iraq's governorates on a tile grid (column, row), roughly where they lie.
TILES = {
    "IQ-DA": (2, 0), "IQ-NI": (1, 1), "IQ-AR": (2, 1), "IQ-SU": (3, 1), "IQ-SD": (1, 2), "IQ-KI": (2, 2),
    "IQ-DI": (3, 2), "IQ-AN": (0, 3), "IQ-BG": (2, 3), "IQ-WA": (3, 3), "IQ-KA": (1, 4), "IQ-BB": (2, 4),
    "IQ-MA": (4, 4), "IQ-NA": (1, 5), "IQ-QA": (2, 5), "IQ-DQ": (3, 5), "IQ-BA": (4, 5), "IQ-MU": (2, 6),
}


@dataclass
class Tile:
    name: str
    value: float | None  # None: too few answers to show
    text: str
    count: str = ""  # how many it rests on, e.g. "n=120"


def tile_map(tiles: dict[str, Tile], *, rtl: bool, title: str, high: float, hue: str = "#2a7f62",
             scale: tuple[str, str] = ("0%", "100%")) -> Markup:
    """Iraq's 18 governorates as tiles shaded by `value` (0..`high`), each with its name, value and count;
    a colour scale from `scale[0]` to `scale[1]` below; hidden ones hatched grey.

    The map keeps its size, text and all (no tile reflows into a narrow column): on a screen narrower than
    the map it scrolls sideways in its own box, which a keyboard can scroll too. Under a laptop's screen tall.
    """
    size, gap = 92, 6
    width, grid_height = 5 * (size + gap) + gap, 7 * (size + gap) + gap
    height = grid_height + 44
    # Map geography: west stays west, so the grid is not mirrored for right-to-left readers.
    canvas = _Canvas(width, height, False, title, fixed=True)
    canvas.parts.append(
        f'<defs><pattern id="small" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#d1d5db" stroke-width="3"/></pattern>'
        f'<linearGradient id="scale-{hue[1:]}"><stop offset="0" stop-color="{hue}" stop-opacity="0.12"/>'
        f'<stop offset="1" stop-color="{hue}" stop-opacity="1"/></linearGradient></defs>'
    )
    described = []
    for code, (col, row) in TILES.items():
        tile = tiles.get(code)
        x, y = gap + col * (size + gap), gap + row * (size + gap)
        shown = tile is not None and tile.value is not None
        if not shown:
            fill, opacity = "url(#small)", 1.0
        else:
            fill, opacity = hue, 0.12 + 0.88 * min(tile.value / high, 1.0) if high > 0 else 0.12
        canvas.parts.append(
            f'<rect x="{x}" y="{y}" width="{size}" height="{size}" rx="8" fill="{fill}" fill-opacity="{opacity:.2f}"'
            f' stroke="#ffffff"/>'
        )
        ink = ink_on(_over_white(hue, opacity)) if shown else "#1f2937"
        name = tile.name if tile else code
        lines = _wrap(name, 12)
        for k, part in enumerate(lines):
            canvas.text(x + size / 2, y + 27 + 15 * k - 7 * (len(lines) - 1), part, anchor="middle", size=13,
                        fill=ink, weight="600")
        canvas.text(x + size / 2, y + 59, tile.text if tile else "", anchor="middle", size=16, fill=ink,
                    weight="600")
        if tile and tile.count:
            canvas.text(x + size / 2, y + 79, tile.count, anchor="middle", size=12, fill=ink)
        described.append(f"{name}: {tile.text if tile else ''} {tile.count if tile else ''}".strip())
    bar_y = grid_height + 6
    canvas.parts.append(f'<rect x="{gap}" y="{bar_y}" width="{width - 2 * gap}" height="12" rx="3" '
                        f'fill="url(#scale-{hue[1:]})"/>')
    canvas.text(gap, bar_y + 30, scale[0], size=13, fill=MUTED)
    canvas.text(width - gap, bar_y + 30, scale[1], size=13, fill=MUTED, anchor="end")
    canvas.describe("; ".join(described))
    return Markup('<div class="chart-scroll" tabindex="0" role="group" aria-label="{}">').format(title) + \
        canvas.done() + Markup("</div>")


def _over_white(fill: str, opacity: float) -> str:
    # The colour `fill` at `opacity` shows on a white page.
    channels = (int(fill[k:k + 2], 16) for k in (1, 3, 5))
    return "#" + "".join(f"{round(255 + (c - 255) * opacity):02x}" for c in channels)


def _wrap(name: str, width: int) -> list[str]:
    # A long name on two lines, broken at a space; a single long word is shortened.
    if len(name) <= width:
        return [name]
    cut = name.rfind(" ", 0, width + 1)
    if cut <= 0:
        return [name[: width - 1] + "…"]
    rest = name[cut + 1:]
    return [name[:cut], rest if len(rest) <= width else rest[: width - 1] + "…"]


def stacked(rows: Sequence[tuple[str, list[float], bool]], *, rtl: bool, title: str, small: str) -> Markup:
    """One 100% bar per category split by answer, its name above it; categories with too few answers are
    marked, not drawn."""
    width, left, row_h = 640, 12, 54
    canvas = _Canvas(width, 8 + row_h * len(rows), rtl, title)
    span = width - 2 * left
    # Each category's shares are one set: written to the point, rounded together so that they sum to 100%.
    written = [_shown(shares, 0) if not is_small else [] for _, shares, is_small in rows]
    for i, (label, shares, is_small) in enumerate(rows):
        y = 6 + i * row_h
        canvas.text(left, y + 14, label, size=13, weight="600")
        x = left
        if is_small:
            canvas.rect(x, y + 20, span, 26, GRID)
            canvas.text(x + span / 2, y + 38, small, anchor="middle", size=12, fill=MUTED)
            continue
        for j, share in enumerate(shares):
            canvas.rect(x, y + 20, span * share, 26, colour(j))
            # A figure only where it fits its slice on a phone-wide chart too.
            if share >= 0.12:
                canvas.text(x + span * share / 2, y + 38, written[i][j], anchor="middle", size=13,
                            fill=ink_on(colour(j)), weight="600")
            x += span * share
    canvas.describe("; ".join(f"{label}: " + (small if is_small else ", ".join(percents))
                              for (label, _, is_small), percents in zip(rows, written, strict=True)))
    return canvas.done()


def notice(text: str, *, rtl: bool, title: str) -> Markup:
    """A chart's place with a sentence instead of figures (no answers yet, or too few to show)."""
    width, height = 640, 60
    canvas = _Canvas(width, height, rtl, title)
    canvas.rect(0, 0, width, height, GRID)
    canvas.text(width / 2, height / 2 + 5, text, anchor="middle", size=13, fill="#374151")
    return canvas.done()


def histogram(values: Sequence[float], truth: float, *, rtl: bool, title: str, bins: int = 30,
              span: tuple[float, float] | None = None) -> Markup:
    """A histogram of replicated estimates with the true share marked, over `span` (share from, to) if given,
    so that histograms drawn side by side share their x-axis."""
    width, height, pad = 640, 170, 26
    canvas = _Canvas(width, height, rtl, title)
    if not values:
        return canvas.done()
    low, high = span or histogram_span([values], truth)
    counts = [count for _, _, count in histogram_bins(values, (low, high), bins)]
    peak = max(counts) or 1
    step = (width - 2 * pad) / bins
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / peak
        canvas.rect(pad + i * step, height - pad - h, step - 1, h, PALETTE[3])
    x = pad + (truth - low) / (high - low) * (width - 2 * pad)
    canvas.line(x, 8, x, height - pad, TRUTH, 2.5, "4,3")
    canvas.text(pad, height - 8, _pct(low), size=12, fill=MUTED)
    canvas.text(width - pad, height - 8, _pct(high), size=12, fill=MUTED, anchor="end")
    # The truth's figure beside its line, on the side with room.
    canvas.text(x + 4 if x < width * 0.7 else x - 4, 18, _pct(truth), size=13, weight="600",
                anchor="start" if x < width * 0.7 else "end")
    canvas.describe(f"{len(values)} estimates from {_pct(low)} to {_pct(high)}; true share {_pct(truth)}")
    return canvas.done()


def histogram_span(groups: Sequence[Sequence[float]], truth: float) -> tuple[float, float]:
    """One x-range for histograms of several groups of estimates and their truth, with a margin."""
    values = [value for group in groups for value in group] + [truth]
    low, high = min(values), max(values)
    margin = (high - low) * 0.1 or 0.01
    return low - margin, high + margin


def histogram_bins(values: Sequence[float], span: tuple[float, float], bins: int = 30) -> list[tuple[float, float, int]]:
    """The bars of `histogram` as (share from, share to, count): its text equivalent, and what it draws."""
    low, high = span
    counts = [0] * bins
    for value in values:
        clipped = min(max(value, low), high)
        counts[min(int((clipped - low) / (high - low) * bins), bins - 1)] += 1
    width = (high - low) / bins
    return [(low + i * width, low + (i + 1) * width, count) for i, count in enumerate(counts)]
