"""Datasets: image reading, discovery and splits, labels, augmentation, synthetic data, reports.

numpy, PIL and OpenCV only; the torch side lives in edgecv/training/data.py.
"""
