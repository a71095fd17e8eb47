#!/usr/bin/env python3
"""NumPy baseline for `bench --target lm`: d_logit² and both KLs of a teacher/student pair
computed directly (whole logit matrices, float64, NumPy's BLAS), timed, reading included.

    python3 scripts/numpy-lm-baseline.py teacher.npz student.npz

Optional (needs numpy: pip install numpy); not part of the test or main commands.
"""
import sys
import time

import numpy as np


def main(teacher, student):
    start = time.perf_counter()
    a, b = np.load(teacher), np.load(student)
    fa, ga = a["f"].astype(np.float64), a["g"].astype(np.float64)
    fb, gb = b["f"].astype(np.float64), b["g"].astype(np.float64)
    read = time.perf_counter() - start
    la = fa @ (ga - ga.mean(axis=0)).T          # centred logits, N×k
    lb = fb @ (gb - gb.mean(axis=0)).T
    products = time.perf_counter() - start - read
    d_logit_sq = np.mean(np.sum((la - lb) ** 2, axis=1))
    la -= la.max(axis=1, keepdims=True)
    lb -= lb.max(axis=1, keepdims=True)
    log_pa = la - np.log(np.exp(la).sum(axis=1, keepdims=True))
    log_pb = lb - np.log(np.exp(lb).sum(axis=1, keepdims=True))
    pa, pb = np.exp(log_pa), np.exp(log_pb)
    kl_ab = np.mean(np.sum(pa * (log_pa - log_pb), axis=1))
    kl_ba = np.mean(np.sum(pb * (log_pb - log_pa), axis=1))
    total = time.perf_counter() - start
    print(f"NumPy {np.__version__}: d_logit² {d_logit_sq:.10g}, KL(A‖B) {kl_ab:.10g}, KL(B‖A) {kl_ba:.10g}")
    print(f"  reading {read:.2f} s, the two products {products:.2f} s, total {total:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
