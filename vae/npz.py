"""Reading a user's data set `dataset=npz:PATH`: the array `x` (images (n, h, w[, c]) or vectors (n, d), as stored)
and optional class labels `y`, checked; the header alone gives the shape and dtype without reading the data."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from common.errors import UserError

CHECK_ROWS = 4096  # rows of `x` checked for NaN at a time: no float copy of the whole array


def read(path: Path, header_only: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(x as stored, int64 labels or None), checked; `header_only`: `x` is not read, and a stand-in with its shape
    and dtype that holds no memory is returned instead."""
    if not path.is_file():
        raise UserError(f"dataset npz:{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise UserError(f"dataset npz:{path}: no array 'x' (found: {', '.join(archive.files) or 'none'})")
            shape, dtype = _header(archive, "x")
            _check_shape(path, shape, dtype)
            labels = archive["y"] if "y" in archive.files else None
            images = np.broadcast_to(np.zeros((), dtype), shape) if header_only else archive["x"]
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"dataset npz:{path}: not a readable .npz file ({type(error).__name__})") from None
    if labels is not None:
        labels = _checked_labels(path, labels, shape[0])
    if not header_only:
        _check_finite(path, images)
    return images, labels


def _header(archive, name: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.zip.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
    return shape, dtype


def _check_shape(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) not in (2, 3, 4) or shape[0] < 10 or not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise UserError(f"dataset npz:{path}: 'x' must be numeric images (n, h, w[, c]) or vectors (n, d) with "
                        f"n >= 10, got shape {shape} dtype {dtype}")


def _check_finite(path: Path, images: np.ndarray) -> None:
    """Refuse NaN or infinite values (as float32, what training reads), a chunk of rows at a time."""
    if np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
        return
    for start in range(0, len(images), CHECK_ROWS):
        if not np.isfinite(np.asarray(images[start:start + CHECK_ROWS], np.float32)).all():
            raise UserError(f"dataset npz:{path}: 'x' holds NaN or infinite values (as float32); remove or "
                            f"replace them")


def _checked_labels(path: Path, labels: np.ndarray, count: int) -> np.ndarray:
    labels = np.ravel(labels)
    whole = np.issubdtype(labels.dtype, np.number) and np.all(np.mod(labels, 1) == 0)
    if len(labels) != count or not whole or labels.min(initial=0) < 0:
        raise UserError(f"dataset npz:{path}: 'y' must hold one class label (0, 1, ...) per image, got shape "
                        f"{labels.shape} dtype {labels.dtype} for {count} images")
    return labels.astype(np.int64)
