"""Image grids as one uint8 canvas (numpy only); vae.plots and analysis.findings.samples label and save them."""
from __future__ import annotations

import numpy as np


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
