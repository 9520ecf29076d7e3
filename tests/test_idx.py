import gzip

import numpy as np
import pytest

from cfae.data import DataFileError, read_idx, write_idx


def test_real_mnist_idx_files(shared_data):
    folder = shared_data / "mnist-idx"
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    with np.load(shared_data / "mnist.npz") as npz:
        assert np.array_equal(images, npz["x_test"])
        assert np.array_equal(labels, npz["y_test"])


@pytest.mark.parametrize("name", ["data-idx3-ubyte", "data-idx3-ubyte.gz"])
def test_written_file_round_trips(tmp_path, name):
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(tmp_path / name), array)


def test_int32_round_trip(tmp_path):
    array = np.array([[1, -2], [300000, 4]], dtype=np.int32)
    write_idx(tmp_path / "a.idx", array)
    assert np.array_equal(read_idx(tmp_path / "a.idx"), array)


def test_truncated_file_names_file_and_problem(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    write_idx(path, np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataFileError, match=r"short-idx3-ubyte.*truncated"):
        read_idx(path)


def test_wrong_magic_is_rejected(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x01\x02\x08\x01" + b"\x00" * 8))
    with pytest.raises(DataFileError, match=r"bad.gz.*wrong magic"):
        read_idx(path)


def test_corrupt_gzip_is_rejected(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 3)
    with pytest.raises(DataFileError, match="broken.gz.*corrupt gzip"):
        read_idx(path)
