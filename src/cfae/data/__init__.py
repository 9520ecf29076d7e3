"""Datasets: each yields float32 images in [0, 1] shaped (C, H, W) plus a dict of labels."""

from cfae.data.base import ImageDataset
from cfae.data.download import MissingDataError
from cfae.data.idx import DataFileError, read_idx, write_idx
from cfae.data.registry import DATASETS, get_dataset

__all__ = ["DATASETS", "DataFileError", "ImageDataset", "MissingDataError", "get_dataset", "read_idx", "write_idx"]
