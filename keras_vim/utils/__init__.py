"""Small utilities: image grids, line and bar charts."""

from keras_vim.utils.image_grid import image_grid, save_image_grid
from keras_vim.utils.plots import save_bar_chart, save_line_plot

__all__ = ["image_grid", "save_bar_chart", "save_image_grid", "save_line_plot"]
