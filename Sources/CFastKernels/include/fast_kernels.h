#ifndef LOGITBOUNDS_FAST_KERNELS_H
#define LOGITBOUNDS_FAST_KERNELS_H

/// out[i] = the exp kernel of Proofs/certificates.md §2 at x[i] (x ≤ 709): the same
/// operations as `FastMath.expKernel` — argument reduction and degree-13 Horner with fused
/// multiply-adds, then the exact scaling by 2^k — so the same proven error bound (3.52u
/// relative, plus η when the result is subnormal); 0 for x ≤ −745 (e^x < η there).
/// Uses the CPU's FMA instruction when it has one (checked once at run time), the C
/// library's fma() otherwise: the same fused operation, so the same bits either way.
void logitbounds_exp_kernel_array(const double *x, double *out, long n);

/// The same kernel at one argument, with no cut-off below −745 (the bits of
/// `FastMath.expKernelReference` wherever the result is normal; a correctly rounded scaling
/// where it is subnormal): one call where Swift's own kernel makes fifteen fma() calls on
/// CPUs it does not assume to have FMA.
double logitbounds_exp_kernel_scalar(double x);

/// log x for finite x > 0 (Proofs/certificates.md §3) and its error bound in `error`: the
/// operations of `FastMath.logKernelReference`, so its bits (tested), in one call.
double logitbounds_log_kernel(double x, double *error);

/// 1 when the FMA instruction path is in use, 0 otherwise (for reports and tests).
int logitbounds_exp_kernel_uses_fma_instruction(void);

/// The vector width of the array kernel's blocks of eight arguments: 8 in AVX-512 (CPUs with
/// AVX-512F, AVX2 and FMA), 4 in AVX2 (AVX2 and FMA), 0 without vector instructions; the same
/// operations, so the same bits, at every width.
int logitbounds_exp_kernel_uses_vector_instructions(void);

/// `logitbounds_exp_kernel_array` in vectors of `width` (8: AVX-512, 4: AVX2) where the CPU has
/// them, else the next narrower (1: one argument at a time): tests compare the widths.
void logitbounds_exp_kernel_array_in_vectors_of(const double *x, double *out, long n, int width);

/// `logitbounds_exp_kernel_array` on its one-argument loop, never in vector instructions (tests
/// compare the two).
void logitbounds_exp_kernel_array_one_at_a_time(const double *x, double *out, long n);

/// out[i] ≥ ‖row i‖₂ of the row-major rows×columns matrix m (Proofs/certificates.md §5, "Logits
/// by norms"): M·√(Σ q²) with M the row's largest magnitude and q ≥ |x|/M, every operation
/// pushed one Double up; 0 for a zero row, +∞ for a row holding ±∞, NaN for one holding NaN.
/// In AVX2 vector instructions on CPUs that have them, with the same operations in the same
/// order (so the same bits) as `logitbounds_row_norm_upper_bounds_without_vectors`.
void logitbounds_row_norm_upper_bounds(const double *m, long rows, long columns, double *out);
void logitbounds_row_norm_upper_bounds_without_vectors(const double *m, long rows, long columns, double *out);

/// Pass 1 of the streamed pass's midpoint row (Proofs/certificates.md §5, "The row by
/// midpoints") over k labels of the computed logits p1, p2: each model's largest and least
/// logit (m, n), and of c = RN(p1 − p2) the blocked Σc, Σ|c|, max c and min c.
struct logitbounds_first_pass { double m1, n1, m2, n2, sum_c, sum_abs_c, c_max, c_min; };

/// Pass 2, given t_s = exp(p_s − m_s): the blocked S_s = Σt_s, A_s = Σt_s·c, B_s = Σt_s·|c|,
/// V = Σv² with v = RN(c − mean), and C = Σc². With with_weights = 0, V and C alone (t1 and
/// t2 unread; the others 0).
struct logitbounds_second_pass { double s1, s2, a1, a2, b1, b2, vv, cc; };

/// Every sum in blocks of 1 024 labels, each block in four running sums added in order at its
/// end, the blocks' sums added in turn (the summation order the proof's count of roundings
/// allows for). In AVX2 vector instructions where the CPU has them and `vectors` is nonzero,
/// with the same operations in the same order (so the same bits) as without.
struct logitbounds_first_pass logitbounds_midpoint_first_pass(const double *p1, const double *p2, long k, int vectors);
struct logitbounds_second_pass logitbounds_midpoint_second_pass(const double *p1, const double *p2, const double *t1, const double *t2,
                                                                 long k, double mean, int with_weights, int vectors);

/// Pass 2 with its own exponentials t_s = exp(RN(p_s − m_s)) by the array kernel, formed a block
/// of labels at a time instead of k at once: the bits of `logitbounds_exp_kernel_array` on the
/// shifted rows followed by `logitbounds_midpoint_second_pass` (with weights). `width` 8 runs
/// AVX-512 where the CPU has it, 4 AVX2, 0 neither (the same bits at every width).
struct logitbounds_second_pass logitbounds_midpoint_exponential_pass(const double *p1, const double *p2, double m1, double m2,
                                                                      long k, double mean, int width);

/// The labels per block of these sums (1 024): MidpointRow's count of roundings reads it.
long logitbounds_midpoint_block(void);

/// The screen's running statistics of one logit row (Numerics' `LogitRowAccumulator`).
struct logitbounds_screen_row {
    double max_a, sum_a, cross_a, magnitude_a;
    double max_b, sum_b, cross_b, magnitude_b;
    double min_a, min_b, squares;
};

/// Adds n labels of one row (a: model 1's logits, b: model 2's) to `s`; `fractions` holds
/// 2^{j/64}, j = 0…63. `width` 8: the terms of eight labels in one AVX-512 vector where the
/// CPU has it, else as 4; 4: AVX2 where the CPU has it; 0: no vector instructions. The same
/// operations in the same order (so the same bits) at every width.
void logitbounds_screen_row_add(struct logitbounds_screen_row *s, const double *a, const double *b, long n, const double *fractions, int width);

/// The OpenBLAS kernel this library chose at load time because OpenBLAS fell back to its
/// Prescott kernels on a CPU that supports better ones ("SkylakeX", "Haswell" or
/// "SandyBridge"; blas_kernel.c), or NULL when OpenBLAS's own choice (or OPENBLAS_CORETYPE)
/// stands.
const char *logitbounds_blas_kernel_chosen(void);

/// 1 when LOGITBOUNDS_TEST_PRESCOTT_FALLBACK (tests only) put OpenBLAS on Prescott before the
/// choice, 0 otherwise.
int logitbounds_blas_fallback_simulated(void);

#endif
