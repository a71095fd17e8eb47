#!/usr/bin/env python3
"""Write scikit-learn's bundled handwritten digits as a `distill --data` dataset.

Optional experiment, not part of the two README commands: needs
`pip install scikit-learn` (the data ship inside the package; nothing is downloaded).

    python3 scripts/export-digits.py digits.npz
    .build/release/logitbounds distill --data digits.npz --teacher-hidden 128,128 \
        --teacher-dimension 8 --students 4,8,12 --teacher-epochs 500 --student-epochs 500 --out digits

Arrays: x (1797 x 64, pixel intensities 0..16 scaled to 0..1), y (labels 0..9), and concepts
  c_even        label is even                      (a function of the label)
  c_loop        label has a closed loop: 0 4 6 8 9 (a function of the label)
  c_ink         total ink above the median of its own class      (not determined by the label)
  c_slant       slant above the median of its own class          (not determined by the label)
Slant is the least-squares slope of a column's ink-weighted mean position against the row:
for each image, the ink-weighted covariance of (row, column) divided by the variance of row.
No split array: distill makes a seeded stratified 60/20/20 split.
"""
import sys

import numpy as np
from sklearn.datasets import load_digits


def slant(image):
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    if mass == 0:
        return 0.0
    r = (rows * image).sum() / mass
    c = (cols * image).sum() / mass
    covariance = ((rows - r) * (cols - c) * image).sum() / mass
    variance = ((rows - r) ** 2 * image).sum() / mass
    return covariance / variance if variance > 0 else 0.0


def above_class_median(values, labels):
    out = np.zeros(len(values), dtype=np.int8)
    for y in np.unique(labels):
        members = labels == y
        out[members] = values[members] > np.median(values[members])
    return out


def main(path):
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    images = digits.images
    ink = images.reshape(len(images), -1).sum(axis=1)
    slants = np.array([slant(im) for im in images])
    np.savez(path, x=x, y=y,
             c_even=(y % 2 == 0).astype(np.int8),
             c_loop=np.isin(y, [0, 4, 6, 8, 9]).astype(np.int8),
             c_ink=above_class_median(ink, y),
             c_slant=above_class_median(slants, y))
    print(f"wrote {path}: {x.shape[0]} images, {x.shape[1]} pixels, {len(np.unique(y))} labels, "
          "concepts even, loop, ink, slant")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "digits.npz")
