"""Image grids written as PNG (numpy + Pillow, no plotting library)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def tile(images: np.ndarray, columns: int, pad: int = 1) -> np.ndarray:
    """(n, h, w, c) in [0, 1] -> one (rows·(h+pad), columns·(w+pad), c) uint8 canvas, row-major."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    canvas = np.ones((rows * (height + pad) + pad, columns * (width + pad) + pad, channels), np.float32)
    for index, image in enumerate(images):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        canvas[top:top + height, left:left + width] = image
    return (canvas * 255).round().astype(np.uint8)


def save_grid(path: Path, images: np.ndarray, columns: int, scale: int = 2) -> None:
    canvas = tile(images, columns)
    picture = Image.fromarray(canvas[..., 0] if canvas.shape[-1] == 1 else canvas)
    picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST).save(path)
