import numpy as np
import pytest
from PIL import Image

from keras_vim.utils import save_bar_chart, save_line_plot
from keras_vim.utils.plots import COLORS, GREY, HEIGHT, LEGEND_INSIDE_ENTRIES, MARGIN, WIDTH


def pixels_of(image, color):
    return np.argwhere(np.all(np.asarray(image.convert("RGB")) == color, axis=-1))


def test_line_plot_draws_series_and_baseline(tmp_path):
    path = str(tmp_path / "curve.png")
    save_line_plot(
        path, [1, 2, 3], {"probe": [0.5, 0.9, 0.7]}, "t", "block", "acc", {"pixels": 0.6}
    )
    image = Image.open(path)
    assert image.size == (WIDTH, HEIGHT)
    line, baseline = pixels_of(image, COLORS[0]), pixels_of(image, COLORS[1])
    assert len(line) > 100 and len(baseline) > 100
    # The highest point of the line (left of the legend, top right) is at x = 2 (0.9), in the
    # middle of the plot area.
    line = line[line[:, 1] < WIDTH - MARGIN["right"] - 210]
    top = line[np.argmin(line[:, 0])]
    assert abs(top[1] - (MARGIN["left"] + WIDTH - MARGIN["right"]) / 2) < 10
    with pytest.raises(ValueError, match="probe"):
        save_line_plot(path, [1, 2], {"probe": [0.5]})
    with pytest.raises(ValueError, match="finite"):
        save_line_plot(path, [1], {"probe": [float("nan")]})


def test_bar_chart_heights_follow_the_values(tmp_path):
    path = str(tmp_path / "bars.png")
    save_bar_chart(path, [4, 1, 2, 0])
    bars = pixels_of(Image.open(path), COLORS[0])
    columns = np.unique(bars[:, 1])
    assert columns.min() >= MARGIN["left"] and columns.max() <= WIDTH - MARGIN["right"]
    # Bar heights, left to right, in pixels: proportional to the values.
    quarter = (WIDTH - MARGIN["left"] - MARGIN["right"]) / 4
    heights = [np.sum(bars[:, 1] == int(MARGIN["left"] + (i + 0.5) * quarter)) for i in range(4)]
    assert heights[0] > heights[2] > heights[1] > heights[3] == 0
    assert heights[0] == pytest.approx(2 * heights[2], rel=0.05)
    with pytest.raises(ValueError, match="values"):
        save_bar_chart(path, [])


@pytest.mark.parametrize("low", [0.0, 0.66, 0.744])
def test_the_legend_covers_no_point(tmp_path, low):
    # Four lines and two references (the most legend entries kept inside the plot) whose
    # highest points are at the right, under the legend; the axis extends to round ticks
    # below the data, which must not push the points up into it.
    assert LEGEND_INSIDE_ENTRIES == 6
    path = str(tmp_path / "legend.png")
    x = np.arange(1, 9)
    series = {f"prior {i}": np.linspace(low, 0.8 - 0.02 * i, 8) for i in range(4)}
    save_line_plot(path, x, series, reference_lines={"pixels": low + 0.01, "bag": low + 0.02})
    image = Image.open(path)
    assert image.size == (WIDTH, HEIGHT)
    legend_bottom = MARGIN["top"] + 8 + 18 * 6 - 9
    top_series = pixels_of(image, COLORS[0])
    # The last point's marker (9 px wide, at x = 595 px; the legend's own line samples end
    # further left) is drawn, and below the legend.
    right = top_series[top_series[:, 1] > WIDTH - MARGIN["right"] - 35]
    assert len(right) > 20
    assert right[:, 0].min() > legend_bottom


def test_a_long_legend_gets_a_column_right_of_the_plot(tmp_path):
    # Eleven lines and three references: every entry its own colour, the legend beside the
    # plot (which keeps its size), and the data spread over the plot's full height.
    path = str(tmp_path / "long.png")
    x = np.arange(1, 9)
    series = {f"prior of {i} blocks, 3000 steps": np.full(8, 0.70 + 0.01 * i) for i in range(11)}
    references = {"raw pixels": 0.815, "reconstructions": 0.805, "bag of codes": 0.6}
    save_line_plot(path, x, series, reference_lines=references)
    image = Image.open(path)
    assert image.size[0] > WIDTH + 150 and image.size[1] == HEIGHT
    plot_right = WIDTH - MARGIN["right"]
    for color in COLORS[:14]:
        drawn = pixels_of(image, color)
        # In the plot (a line across it) and in the legend (its sample), nowhere between.
        assert drawn[:, 1].min() < MARGIN["left"] + 40 and drawn[:, 1].max() > plot_right + 16
        assert not np.any((drawn[:, 1] > plot_right) & (drawn[:, 1] < plot_right + 16))
    frame = pixels_of(image, GREY)
    assert frame[:, 1].max() < image.size[0] - 8  # the legend box fits in the image
    # The highest line (0.80) lies in the top fifth of the plot, the lowest reference (0.6)
    # in the bottom fifth: no room kept above the data for a legend.
    height = HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    highest = pixels_of(image, COLORS[10])
    assert highest[highest[:, 1] < plot_right][:, 0].min() < MARGIN["top"] + height / 5
    lowest = pixels_of(image, COLORS[13])
    assert lowest[lowest[:, 1] < plot_right][:, 0].max() > HEIGHT - MARGIN["bottom"] - height / 5
