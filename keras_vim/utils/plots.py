"""Small line and bar charts as PNG files, drawn with Pillow (no plotting library needed)."""

import numpy as np

WIDTH, HEIGHT = 640, 400
MARGIN = {"left": 70, "right": 20, "top": 40, "bottom": 55}
# Twenty colours: matplotlib's tab10, then the lighter shade of each (tab20's), so a chart
# of up to twenty lines repeats none.
COLORS = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 152, 150),
    (152, 223, 138),
    (255, 187, 120),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
]
# A legend of up to this many entries sits inside the plot, top right (the y axis grows to
# keep room for it); a longer one would squeeze the data, so it gets a column of its own to
# the right of the plot, which widens the image.
LEGEND_INSIDE_ENTRIES = 6
GREY = (200, 200, 200)


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _ticks(low, high, count=5):
    """About `count` round tick values covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    step = 10 ** np.floor(np.log10(raw))
    step *= min((m for m in (1, 2, 2.5, 5, 10) if m * step >= raw), default=10)
    start = np.floor(low / step) * step
    return [float(v) for v in np.arange(start, high + step * 0.5, step)]


def _y_axis(low, high, room=0.0):
    """Ticks and the y range: [low, high] widened to its round ticks, then further up until
    the top `room` share of the range lies above `high` (where the legend goes)."""
    ticks = _ticks(low, high)
    bottom, ceiling = min(ticks[0], low), max(ticks[-1], high)
    needed = (high - room * bottom) / (1 - room)
    if needed > ceiling:  # the bottom stays: only the room above grows
        ceiling = needed
        ticks = [tick for tick in _ticks(bottom, ceiling) if bottom <= tick <= ceiling]
    return ticks, (bottom, ceiling)


def _label(value):
    if float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f"{value:.3g}"


class _Canvas:
    """A plot area with data ranges mapped to pixels."""

    def __init__(self, x_range, y_range, title, x_label, y_label, legend_room=0.0, legend_column=0):
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (WIDTH + legend_column, HEIGHT), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font, self.small = _font(16), _font(12)
        self.left, self.top = MARGIN["left"], MARGIN["top"]
        self.right, self.bottom = WIDTH - MARGIN["right"], HEIGHT - MARGIN["bottom"]
        self.x_range = x_range
        y_ticks, self.y_range = _y_axis(*y_range, legend_room)
        for value in y_ticks:
            y = self.y(value)
            self.draw.line([(self.left, y), (self.right, y)], fill=GREY)
            self.draw.text((self.left - 6, y), _label(value), "black", self.small, anchor="rm")
        self.draw.rectangle([self.left, self.top, self.right, self.bottom], outline="black")
        middle = (self.left + self.right) / 2
        self.draw.text((middle, 8), title, "black", self.font, anchor="mt")
        self.draw.text((middle, HEIGHT - 8), x_label, "black", self.small, anchor="mb")
        # A vertical y label: drawn on its own image, rotated.
        from PIL import Image as PILImage
        from PIL import ImageDraw as PILDraw

        box = self.draw.textbbox((0, 0), y_label, font=self.small)
        label = PILImage.new("RGB", (box[2] + 4, box[3] + 4), "white")
        PILDraw.Draw(label).text((2, 2), y_label, "black", self.small)
        label = label.rotate(90, expand=True)
        self.image.paste(label, (4, int((self.top + self.bottom - label.height) / 2)))

    def x(self, value):
        low, high = self.x_range
        return self.left + (value - low) / max(high - low, 1e-12) * (self.right - self.left)

    def y(self, value):
        low, high = self.y_range
        return self.bottom - (value - low) / max(high - low, 1e-12) * (self.bottom - self.top)

    def x_tick(self, value, text):
        x = self.x(value)
        self.draw.line([(x, self.bottom), (x, self.bottom + 4)], fill="black")
        self.draw.text((x, self.bottom + 6), text, "black", self.small, anchor="mt")

    def legend(self, entries, width, outside=False):
        """Entries `(text, color, dashed)` in a box `width` pixels wide (`_legend_width`) at
        the plot's top right, inside it or (`outside`) in the column right of it."""
        x = self.right + 16 if outside else self.right - 4 - width
        x, y = x + 6, self.top + 8
        height = 18 * len(entries)
        self.draw.rectangle(
            [x - 6, y - 9, x - 6 + width, y + height - 9], fill="white", outline=GREY
        )
        for text, color, dashed in entries:
            if dashed:
                for start in range(0, 24, 8):
                    self.draw.line([(x + start, y), (x + start + 4, y)], fill=color, width=2)
            else:
                self.draw.line([(x, y), (x + 24, y)], fill=color, width=2)
            self.draw.text((x + 30, y), text, "black", self.small, anchor="lm")
            y += 18


def _legend_width(entries):
    """The legend box's width in pixels: padding, line sample, gap, longest text, padding."""
    font = _font(12)  # the canvas's small font, which the legend is written in
    return 44 + max(font.getlength(text) for text, _, _ in entries)


def _legend_room(entries):
    """The share of the plot's height a legend of `entries` lines takes inside the plot."""
    return (18 * entries + 12) / (HEIGHT - MARGIN["top"] - MARGIN["bottom"])


def save_line_plot(path, x, series, title="", x_label="", y_label="", reference_lines=None):
    """Draws lines of `series` (`{name: values}` over the shared `x`) to a PNG at `path`.

    The legend names every line; up to `LEGEND_INSIDE_ENTRIES` entries it sits inside the
    plot, more get a column to the right of it (the image is wider by that column).

    Args:
        path: output `.png` path.
        x: the x values (numbers); each is also a tick.
        series: `{name: y values}`, one line with dot markers each.
        title, x_label, y_label: texts.
        reference_lines: optional `{name: y}` drawn as dashed horizontal lines (a baseline).

    Returns:
        `path`.
    """
    x = np.asarray(x, "float64")
    series = {name: np.asarray(values, "float64") for name, values in series.items()}
    reference_lines = dict(reference_lines or {})
    for name, values in series.items():
        if values.shape != x.shape:
            raise ValueError(f"Series {name!r} has {values.shape} values for {x.shape} x values.")
    every = np.concatenate([*series.values(), np.array(list(reference_lines.values()))])
    if not every.size or not np.all(np.isfinite(every)):
        raise ValueError("`series` must hold finite values.")
    pad = 0.05 * max(every.max() - every.min(), 1e-3)
    x_pad = 0.05 * max(x.max() - x.min(), 1.0)
    # Legend entries in drawing order: the series, then the references.
    colors = [COLORS[i % len(COLORS)] for i in range(len(series) + len(reference_lines))]
    entries = [(name, color, False) for name, color in zip(series, colors)]
    entries += [(name, color, True) for name, color in zip(reference_lines, colors[len(series) :])]
    outside, legend_width = len(entries) > LEGEND_INSIDE_ENTRIES, _legend_width(entries)
    canvas = _Canvas(
        (x.min() - x_pad, x.max() + x_pad),
        (every.min() - pad, every.max() + pad),
        title,
        x_label,
        y_label,
        legend_room=0.0 if outside else _legend_room(len(entries)),
        legend_column=int(legend_width) + 12 if outside else 0,
    )
    for value in x:
        canvas.x_tick(value, _label(value))
    for value, color in zip(reference_lines.values(), colors[len(series) :]):
        y = canvas.y(value)
        for start in np.arange(canvas.left, canvas.right, 12):
            canvas.draw.line([(start, y), (min(start + 6, canvas.right), y)], fill=color, width=2)
    for values, color in zip(series.values(), colors):
        points = [(canvas.x(a), canvas.y(b)) for a, b in zip(x, values)]
        if len(points) > 1:
            canvas.draw.line(points, fill=color, width=2)
        for px, py in points:
            canvas.draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=color)
    canvas.legend(entries, legend_width, outside)
    canvas.image.save(path)
    return path


def save_bar_chart(path, values, title="", x_label="", y_label="", max_ticks=8):
    """Draws `values` as adjacent bars (bar `i` at x = i, e.g. a histogram) to a PNG."""
    values = np.asarray(values, "float64").reshape(-1)
    if not values.size or not np.all(np.isfinite(values)):
        raise ValueError("`values` must be a non-empty array of finite numbers.")
    canvas = _Canvas(
        (-0.5, len(values) - 0.5), (min(0.0, values.min()), values.max()), title, x_label, y_label
    )
    zero = canvas.y(0.0)
    for i, value in enumerate(values):
        left, right = canvas.x(i - 0.5), canvas.x(i + 0.5)
        right = max(left + 1, right - (1 if right - left > 3 else 0))
        canvas.draw.rectangle(
            [left, min(zero, canvas.y(value)), right, max(zero, canvas.y(value))],
            fill=COLORS[0],
        )
    for tick in _ticks(0, len(values) - 1, max_ticks):
        if tick <= len(values) - 1:
            canvas.x_tick(tick, _label(tick))
    canvas.image.save(path)
    return path
