#ifndef LOGITBOUNDS_FAST_KERNELS_H
#define LOGITBOUNDS_FAST_KERNELS_H

/// out[i] = the exp kernel of Proofs/certificates.md §2 at x[i] (x ≤ 709): the same
/// operations as `FastMath.expKernel` — argument reduction and degree-13 Horner with fused
/// multiply-adds, then the exact scaling by 2^k — so the same proven error bound (3.52u
/// relative, plus η when the result is subnormal); 0 for x ≤ −745 (e^x < η there).
/// Uses the CPU's FMA instruction when it has one (checked once at run time), the C
/// library's fma() otherwise: the same fused operation, so the same bits either way.
void logitbounds_exp_kernel_array(const double *x, double *out, long n);

/// 1 when the FMA instruction path is in use, 0 otherwise (for reports and tests).
int logitbounds_exp_kernel_uses_fma_instruction(void);

#endif
