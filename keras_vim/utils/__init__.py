"""Small utilities: image grids."""

from keras_vim.utils.image_grid import image_grid, save_image_grid

__all__ = ["image_grid", "save_image_grid"]
