// The exp kernel of Proofs/certificates.md §2, over arrays (the streamed pass's midpoint
// rows) and one argument at a time (every other exp enclosure). Swift calls fma() through the C library on CPUs it does not assume to
// have FMA (a call per step); here the same kernel is compiled a second time with the
// FMA instruction enabled and chosen at run time.
#include "fast_kernels.h"
#include <math.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>

// Never contract a·b + c into an FMA behind the proof's back: every fused operation
// below is an explicit fma().
#pragma clang fp contract(off)

static inline double scaled(double p, double k) {
    // p·2^k: exact for a normal result; 2^k from its bits where p·2^k is surely normal
    // (p ≥ 0.7), else ldexp (one correctly rounded scaling).
    if (k >= -1021.0 && k <= 1023.0) {
        uint64_t bits = (uint64_t)((int64_t)k + 1023) << 52;
        double s;
        memcpy(&s, &bits, sizeof s);
        return p * s;
    }
    return ldexp(p, (int)k);
}

// p ≈ e^r at r = x − k·ln 2 (reduced in two fused steps), by degree-13 Horner with fused steps.
static inline double kernel_polynomial(double x, double k) {
    double r = fma(-k, 0.6931471805599453, x);
    r = fma(-k, 2.3190468138462996e-17, r);
    double p = 0x1.6124613a86d09p-33;
    p = fma(p, r, 0x1.1eed8eff8d898p-29);
    p = fma(p, r, 0x1.ae64567f544e4p-26);
    p = fma(p, r, 0x1.27e4fb7789f5cp-22);
    p = fma(p, r, 0x1.71de3a556c734p-19);
    p = fma(p, r, 0x1.a01a01a01a01ap-16);
    p = fma(p, r, 0x1.a01a01a01a01ap-13);
    p = fma(p, r, 0x1.6c16c16c16c17p-10);
    p = fma(p, r, 0x1.1111111111111p-7);
    p = fma(p, r, 0x1.5555555555555p-5);
    p = fma(p, r, 0x1.5555555555555p-3);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    return p;
}

static inline double kernel_core(double x) {
    double k = round(x * 1.4426950408889634);   // ties away from zero, as Swift's rounded()
    return scaled(kernel_polynomial(x, k), k);
}

static inline double kernel(double x) {
    if (!(x > -745.0)) return 0.0;
    return kernel_core(x);
}

static double exp_scalar_generic(double x) { return kernel_core(x); }

static void exp_array_generic(const double *x, double *out, long n) {
    for (long i = 0; i < n; i++) out[i] = kernel(x[i]);
}

#if defined(__x86_64__)
__attribute__((target("fma")))
static double exp_scalar_fma(double x) { return kernel_core(x); }

__attribute__((target("fma")))
static void exp_array_fma(const double *x, double *out, long n) {
    for (long i = 0; i < n; i++) out[i] = kernel(x[i]);
}

// Arguments per call of `kernel_lanes`.
#define LANES 8

// kernel_core at one argument in (−708, 709], without a branch or a library call, so that the
// loops below turn it into vector instructions: the same operations in the same order, so the
// same bits. round(t) (ties away from 0) is trunc(t) moved by one where the exact fraction
// t − trunc(t) reaches ±½; 2^k for −1021 ≤ k ≤ 1023 is built from k's bits, which
// k + 1.5·2⁵² holds in its low bits (exact: |k| < 2⁵¹).
static inline __attribute__((always_inline)) double kernel_lane(double x) {
    double t = x * 1.4426950408889634;
    double k = trunc(t), fraction = t - k;
    k += fraction >= 0.5 ? 1.0 : 0.0;
    k -= fraction <= -0.5 ? 1.0 : 0.0;
    double p = kernel_polynomial(x, k);
    double held = k + 0x1.8p52;
    int64_t bits;
    memcpy(&bits, &held, sizeof bits);
    bits = (bits - 0x4338000000000000LL + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// `kernel_lane` on LANES arguments, four to a vector (AVX2) or eight (AVX-512).
static inline __attribute__((always_inline)) void kernel_lanes(const double *restrict x, double *restrict out) {
#pragma clang loop vectorize(enable) vectorize_width(4)
    for (int i = 0; i < LANES; i++) out[i] = kernel_lane(x[i]);
}

static inline __attribute__((always_inline)) void kernel_lanes_wide(const double *restrict x, double *restrict out) {
#pragma clang loop vectorize(enable) vectorize_width(8)
    for (int i = 0; i < LANES; i++) out[i] = kernel_lane(x[i]);
}

// The array kernel in vectors on the arguments x = RN(p − m) (m = 0 leaves every x as it is):
// blocks of LANES arguments all in (−708, 709] (results normal, no cut-off) by `kernel_lanes`
// (`kernel_lanes_wide` when wide), any other block and the tail by `kernel`.
static inline __attribute__((always_inline)) void exp_array_vectors(const double *p, double m, double *out, long n, int wide) {
    long i = 0;
    for (; i + LANES <= n; i += LANES) {
        double x[LANES];
        int inside = 1;
        for (int j = 0; j < LANES; j++) {
            x[j] = p[i + j] - m;
            inside &= (x[j] > -708.0) & (x[j] <= 709.0);
        }
        if (inside) {
            if (wide) kernel_lanes_wide(x, out + i); else kernel_lanes(x, out + i);
        } else {
            for (int j = 0; j < LANES; j++) out[i + j] = kernel(x[j]);
        }
    }
    for (; i < n; i++) out[i] = kernel(p[i] - m);
}

__attribute__((target("avx2,fma")))
static void exp_array_avx2(const double *x, double *out, long n) { exp_array_vectors(x, 0.0, out, n, 0); }

__attribute__((target("avx512f,fma")))
static void exp_array_avx512(const double *x, double *out, long n) { exp_array_vectors(x, 0.0, out, n, 1); }

// The CPU's features: 1 for FMA, 2 for AVX2 with FMA, 4 for AVX-512F with AVX2. Checked once,
// by a constructor before main (one thread), and read atomically: worker threads call the
// kernels concurrently, and a plain lazily written cache was a data race (ThreadSanitizer).
static _Atomic int cached_features = -1;

static int detect_cpu_features(void) {
    __builtin_cpu_init();
    int fma = __builtin_cpu_supports("fma") != 0;
    int avx2 = fma && __builtin_cpu_supports("avx2");
    return fma | (avx2 ? 2 : 0) | (avx2 && __builtin_cpu_supports("avx512f") ? 4 : 0);
}

__attribute__((constructor)) static void cache_cpu_features(void) {
    atomic_store_explicit(&cached_features, detect_cpu_features(), memory_order_relaxed);
}

static int cpu_features(void) {
    int features = atomic_load_explicit(&cached_features, memory_order_relaxed);
    if (features < 0) {   // only before the constructor has run
        features = detect_cpu_features();
        atomic_store_explicit(&cached_features, features, memory_order_relaxed);
    }
    return features;
}

static int has_fma(void) { return cpu_features() & 1; }
static int has_avx2(void) { return (cpu_features() & 2) != 0; }
static int has_avx512(void) { return (cpu_features() & 4) != 0; }
#else
static int has_fma(void) { return 0; }
static int has_avx2(void) { return 0; }
static int has_avx512(void) { return 0; }
#endif

int logitbounds_exp_kernel_uses_vector_instructions(void) { return has_avx512() ? 8 : has_avx2() ? 4 : 0; }

void logitbounds_exp_kernel_array_in_vectors_of(const double *x, double *out, long n, int width) {
#if defined(__x86_64__)
    if (width == 8 && has_avx512()) { exp_array_avx512(x, out, n); return; }
    if (width >= 4 && has_avx2()) { exp_array_avx2(x, out, n); return; }
#endif
    logitbounds_exp_kernel_array_one_at_a_time(x, out, n);
}

void logitbounds_exp_kernel_array_one_at_a_time(const double *x, double *out, long n) {
#if defined(__x86_64__)
    if (has_fma()) { exp_array_fma(x, out, n); return; }
#endif
    exp_array_generic(x, out, n);
}

int logitbounds_exp_kernel_uses_fma_instruction(void) { return has_fma(); }

void logitbounds_exp_kernel_array(const double *x, double *out, long n) {
#if defined(__x86_64__)
    if (has_avx512()) { exp_array_avx512(x, out, n); return; }
    if (has_avx2()) { exp_array_avx2(x, out, n); return; }
    if (has_fma()) { exp_array_fma(x, out, n); return; }
#endif
    exp_array_generic(x, out, n);
}

double logitbounds_exp_kernel_scalar(double x) {
#if defined(__x86_64__)
    if (has_fma()) return exp_scalar_fma(x);
#endif
    return exp_scalar_generic(x);
}

// The log kernel of Proofs/certificates.md §3 (FastMath.logKernelReference's operations): x =
// m·2^e with √½ ≤ m < √2, log m = 2 atanh s, s = (m − 1)/(m + 1), 11 terms of atanh's series by
// Horner with fused multiply-adds, and the error bound u(|y| + |b| + 4.2|log m|) + 1.3·10⁻²³.
static inline double log_core(double x, double *error) {
    int ex;
    double m = frexp(x, &ex) * 2.0;   // [1, 2), exact
    double e = (double)(ex - 1);
    if (m > 1.4142135623730951) { m *= 0.5; e += 1.0; }
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double q = 1.0 / 21.0;
    q = fma(q, z, 1.0 / 19.0);
    q = fma(q, z, 1.0 / 17.0);
    q = fma(q, z, 1.0 / 15.0);
    q = fma(q, z, 1.0 / 13.0);
    q = fma(q, z, 1.0 / 11.0);
    q = fma(q, z, 1.0 / 9.0);
    q = fma(q, z, 1.0 / 7.0);
    q = fma(q, z, 1.0 / 5.0);
    q = fma(q, z, 1.0 / 3.0);
    q = fma(q, z, 1.0);
    double log_m = 2.0 * (s * q);
    double b = fma(e, 1.9082149292705877e-10, log_m);
    double y = e * 0.6931471803691238 + b;
    *error = nextafter(0x1p-53 * 1.001 * (fabs(y) + fabs(b) + 4.2 * fabs(log_m)) + 1.3e-23, INFINITY);
    return y;
}

static double log_generic(double x, double *error) { return log_core(x, error); }

#if defined(__x86_64__)
__attribute__((target("fma")))
static double log_fma(double x, double *error) { return log_core(x, error); }
#endif

double logitbounds_log_kernel(double x, double *error) {
#if defined(__x86_64__)
    if (has_fma()) return log_fma(x, error);
#endif
    return log_generic(x, error);
}

// Row norms bounded above (Proofs/certificates.md §5, "Logits by norms"): M = max|x_j|,
// r = RN(1/M)⁺, q_j = RN(|x_j|·r)⁺ (RN(|x_j|/M)⁺ where 1/M overflows), and Σ q_j² in
// NORM_LANES running sums — entry j of each full block of NORM_LANES in sum j mod NORM_LANES,
// the tail's entries in sums 0, 1, … — every square and addition rounded and pushed up, the
// sums then added in order and pushed up, and M·√Σ pushed up. Each pushed-up value is at
// least the exact value of its operation on its operands, and every operand is at least
// what it stands for, so the bound holds whatever the grouping. Inside the loops every value
// is finite and at least +0 (q ≤ 1 + 2u, a sum at most about the row's length), where the next
// Double up is the bit pattern plus one.
#define NORM_LANES 8

static inline __attribute__((always_inline)) double next_up_nonnegative(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits += 1;
    memcpy(&x, &bits, sizeof x);
    return x;
}

// sum + q², each rounded and pushed up (q the pushed-up scaled entry).
static inline __attribute__((always_inline)) double add_square(double sum, double q) {
    return next_up_nonnegative(sum + next_up_nonnegative(q * q));
}

static inline __attribute__((always_inline)) double row_norm_bound(const double *restrict x, long n) {
    double top = 0.0;
    int unordered = 0;
    for (long j = 0; j < n; j++) {
        double a = fabs(x[j]);
        unordered |= a != a;
        top = a > top ? a : top;
    }
    if (unordered) return NAN;
    if (!(top > 0.0) || isinf(top)) return top;
    double reciprocal = nextafter(1.0 / top, INFINITY);
    double sums[NORM_LANES] = {0};
    long j = 0;
    if (isfinite(reciprocal)) {
        for (; j + NORM_LANES <= n; j += NORM_LANES) {
#pragma clang loop vectorize(enable)
            for (int l = 0; l < NORM_LANES; l++) {
                sums[l] = add_square(sums[l], next_up_nonnegative(fabs(x[j + l]) * reciprocal));
            }
        }
        for (int l = 0; j < n; j++, l++) sums[l] = add_square(sums[l], next_up_nonnegative(fabs(x[j]) * reciprocal));
    } else {
        for (int l = 0; j < n; j++, l = (l + 1) % NORM_LANES) sums[l] = add_square(sums[l], next_up_nonnegative(fabs(x[j]) / top));
    }
    double total = sums[0];
    for (int l = 1; l < NORM_LANES; l++) total = next_up_nonnegative(total + sums[l]);
    return nextafter(top * next_up_nonnegative(sqrt(total)), INFINITY);
}

static void row_norm_bounds_generic(const double *m, long rows, long columns, double *out) {
    for (long i = 0; i < rows; i++) out[i] = row_norm_bound(m + i * columns, columns);
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void row_norm_bounds_avx2(const double *m, long rows, long columns, double *out) {
    for (long i = 0; i < rows; i++) out[i] = row_norm_bound(m + i * columns, columns);
}
#endif

void logitbounds_row_norm_upper_bounds(const double *m, long rows, long columns, double *out) {
#if defined(__x86_64__)
    if (has_avx2()) { row_norm_bounds_avx2(m, rows, columns, out); return; }
#endif
    row_norm_bounds_generic(m, rows, columns, out);
}

void logitbounds_row_norm_upper_bounds_without_vectors(const double *m, long rows, long columns, double *out) {
    row_norm_bounds_generic(m, rows, columns, out);
}

// The midpoint row's sums (Proofs/certificates.md §5, "The row by midpoints"): every sum over a
// row's k labels in blocks of MIDPOINT_BLOCK labels; within a block in SUM_LANES running sums,
// each starting at 0 (label j of the block in sum j mod SUM_LANES, the block's tail in sums
// 0, 1, …), added in lane order at the block's end; the blocks' sums then added in turn to a
// total starting at 0. In a block of m labels a term meets at most ⌈m/L⌉ − 1 roundings in its
// lane and L − 1 in the lanes' addition, at most the m − 1 of one running sum (for m < L the
// empty lanes add exact zeros), so MidpointRow.roundings bounds it still. The maxima and minima
// are exact in any order (of equal values, ±0, either may stand). The same operations in the
// same order with and without vector instructions, so the same bits.
#define SUM_LANES 4
#define MIDPOINT_BLOCK 1024

// The larger and the smaller of x and a running m; a NaN x leaves m.
static inline __attribute__((always_inline)) double running_max(double x, double m) { return x > m ? x : m; }
static inline __attribute__((always_inline)) double running_min(double x, double m) { return x < m ? x : m; }

static inline __attribute__((always_inline)) double lanes_total(const double lane[SUM_LANES]) {
    return ((lane[0] + lane[1]) + lane[2]) + lane[3];
}

// Pass 1 on labels [start, end) of one block, into the running totals.
static inline __attribute__((always_inline)) void first_pass_block(const double *restrict p1, const double *restrict p2,
                                                                   long start, long end, struct logitbounds_first_pass *r) {
    double c_sum[SUM_LANES] = {0}, abs_sum[SUM_LANES] = {0};
    double hi1[SUM_LANES], lo1[SUM_LANES], hi2[SUM_LANES], lo2[SUM_LANES], c_hi[SUM_LANES], c_lo[SUM_LANES];
    for (int l = 0; l < SUM_LANES; l++) {
        hi1[l] = r->m1; lo1[l] = r->n1; hi2[l] = r->m2; lo2[l] = r->n2; c_hi[l] = r->c_max; c_lo[l] = r->c_min;
    }
#define FIRST_PASS_TERM(l, y) do { \
        double a = p1[y], b = p2[y], c = a - b; \
        hi1[l] = running_max(a, hi1[l]); lo1[l] = running_min(a, lo1[l]); \
        hi2[l] = running_max(b, hi2[l]); lo2[l] = running_min(b, lo2[l]); \
        c_hi[l] = running_max(c, c_hi[l]); c_lo[l] = running_min(c, c_lo[l]); \
        c_sum[l] += c; abs_sum[l] += fabs(c); \
    } while (0)
    long y = start;
    for (; y + SUM_LANES <= end; y += SUM_LANES) {
#pragma clang loop vectorize(enable)
        for (int l = 0; l < SUM_LANES; l++) FIRST_PASS_TERM(l, y + l);
    }
    for (int l = 0; y < end; y++, l++) FIRST_PASS_TERM(l, y);
#undef FIRST_PASS_TERM
    for (int l = 0; l < SUM_LANES; l++) {
        r->m1 = running_max(hi1[l], r->m1); r->n1 = running_min(lo1[l], r->n1);
        r->m2 = running_max(hi2[l], r->m2); r->n2 = running_min(lo2[l], r->n2);
        r->c_max = running_max(c_hi[l], r->c_max); r->c_min = running_min(c_lo[l], r->c_min);
    }
    r->sum_c += lanes_total(c_sum);
    r->sum_abs_c += lanes_total(abs_sum);
}

static inline __attribute__((always_inline)) struct logitbounds_first_pass first_pass(const double *p1, const double *p2, long k) {
    struct logitbounds_first_pass r = {-INFINITY, INFINITY, -INFINITY, INFINITY, 0.0, 0.0, -INFINITY, INFINITY};
    for (long start = 0; start < k; start += MIDPOINT_BLOCK)
        first_pass_block(p1, p2, start, start + MIDPOINT_BLOCK < k ? start + MIDPOINT_BLOCK : k, &r);
    return r;
}

// Pass 2 on labels [start, end) of one block, into the running totals; with_weights = 0 forms V
// and C alone (T1's distances: t1 and t2 unread).
static inline __attribute__((always_inline)) void second_pass_block(const double *restrict p1, const double *restrict p2,
                                                                    const double *restrict t1, const double *restrict t2,
                                                                    long start, long end, double mean, int with_weights,
                                                                    struct logitbounds_second_pass *r) {
    double s1[SUM_LANES] = {0}, s2[SUM_LANES] = {0}, a1[SUM_LANES] = {0}, a2[SUM_LANES] = {0};
    double b1[SUM_LANES] = {0}, b2[SUM_LANES] = {0}, vv[SUM_LANES] = {0}, cc[SUM_LANES] = {0};
#define SECOND_PASS_TERM(l, y) do { \
        double c = p1[y] - p2[y], v = c - mean; \
        if (with_weights) { \
            double u1 = t1[y], u2 = t2[y], magnitude = fabs(c); \
            s1[l] += u1; s2[l] += u2; a1[l] += u1 * c; a2[l] += u2 * c; b1[l] += u1 * magnitude; b2[l] += u2 * magnitude; \
        } \
        vv[l] += v * v; cc[l] += c * c; \
    } while (0)
    long y = start;
    for (; y + SUM_LANES <= end; y += SUM_LANES) {
#pragma clang loop vectorize(enable)
        for (int l = 0; l < SUM_LANES; l++) SECOND_PASS_TERM(l, y + l);
    }
    for (int l = 0; y < end; y++, l++) SECOND_PASS_TERM(l, y);
#undef SECOND_PASS_TERM
    if (with_weights) {
        r->s1 += lanes_total(s1); r->s2 += lanes_total(s2);
        r->a1 += lanes_total(a1); r->a2 += lanes_total(a2);
        r->b1 += lanes_total(b1); r->b2 += lanes_total(b2);
    }
    r->vv += lanes_total(vv); r->cc += lanes_total(cc);
}

static inline __attribute__((always_inline)) struct logitbounds_second_pass second_pass(const double *p1, const double *p2, const double *t1,
                                                                                       const double *t2, long k, double mean, int with_weights) {
    struct logitbounds_second_pass r = {0};
    for (long start = 0; start < k; start += MIDPOINT_BLOCK)
        second_pass_block(p1, p2, t1, t2, start, start + MIDPOINT_BLOCK < k ? start + MIDPOINT_BLOCK : k, mean, with_weights, &r);
    return r;
}

static struct logitbounds_first_pass first_pass_generic(const double *p1, const double *p2, long k) { return first_pass(p1, p2, k); }
static struct logitbounds_second_pass second_pass_generic(const double *p1, const double *p2, const double *t1, const double *t2,
                                                          long k, double mean, int with_weights) {
    return with_weights ? second_pass(p1, p2, t1, t2, k, mean, 1) : second_pass(p1, p2, t1, t2, k, mean, 0);
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static struct logitbounds_first_pass first_pass_avx2(const double *p1, const double *p2, long k) { return first_pass(p1, p2, k); }
__attribute__((target("avx2")))
static struct logitbounds_second_pass second_pass_avx2(const double *p1, const double *p2, const double *t1, const double *t2,
                                                       long k, double mean, int with_weights) {
    return with_weights ? second_pass(p1, p2, t1, t2, k, mean, 1) : second_pass(p1, p2, t1, t2, k, mean, 0);
}
#endif

struct logitbounds_first_pass logitbounds_midpoint_first_pass(const double *p1, const double *p2, long k, int vectors) {
#if defined(__x86_64__)
    if (vectors && has_avx2()) return first_pass_avx2(p1, p2, k);
#endif
    return first_pass_generic(p1, p2, k);
}

long logitbounds_midpoint_block(void) { return MIDPOINT_BLOCK; }

struct logitbounds_second_pass logitbounds_midpoint_second_pass(const double *p1, const double *p2, const double *t1, const double *t2,
                                                                 long k, double mean, int with_weights, int vectors) {
#if defined(__x86_64__)
    if (vectors && has_avx2()) return second_pass_avx2(p1, p2, t1, t2, k, mean, with_weights);
#endif
    return second_pass_generic(p1, p2, t1, t2, k, mean, with_weights);
}

// Pass 2 with its exponentials formed a block of labels at a time: for each block of
// MIDPOINT_BLOCK labels, t_s = kernel(RN(p_s − m_s)) into two buffers on the stack (16 KiB, in
// the first-level cache; the array kernel's own loops, shifted), then the block's sums as
// `second_pass_block` forms them. The same operations in the same order as the exponentials
// written out whole by the array kernel (each argument's bits do not depend on its neighbours
// or the vector width) and then
// `logitbounds_midpoint_second_pass`, so the same bits, without the four k-long arrays
// (arguments and exponentials) the row otherwise writes and reads back.
static inline __attribute__((always_inline)) void shifted_exponentials(const double *restrict p, double m, double *restrict out,
                                                                       long n, int width) {
#if defined(__x86_64__)
    if (width) { exp_array_vectors(p, m, out, n, width == 8); return; }
#endif
    for (long i = 0; i < n; i++) out[i] = kernel(p[i] - m);
}

static inline __attribute__((always_inline)) struct logitbounds_second_pass exponential_pass(const double *p1, const double *p2, double m1, double m2,
                                                                                            long k, double mean, int width) {
    struct logitbounds_second_pass r = {0};
    double t1[MIDPOINT_BLOCK], t2[MIDPOINT_BLOCK];
    for (long start = 0; start < k; start += MIDPOINT_BLOCK) {
        long count = start + MIDPOINT_BLOCK < k ? MIDPOINT_BLOCK : k - start;
        shifted_exponentials(p1 + start, m1, t1, count, width);
        shifted_exponentials(p2 + start, m2, t2, count, width);
        // The block's labels from 0: their lanes are those of labels start … (start a multiple of
        // the lanes), so the sums' order is pass 2's.
        second_pass_block(p1 + start, p2 + start, t1, t2, 0, count, mean, 1, &r);
    }
    return r;
}

static struct logitbounds_second_pass exponential_pass_generic(const double *p1, const double *p2, double m1, double m2, long k, double mean) {
    return exponential_pass(p1, p2, m1, m2, k, mean, 0);
}

#if defined(__x86_64__)
__attribute__((target("fma")))
static struct logitbounds_second_pass exponential_pass_fma(const double *p1, const double *p2, double m1, double m2, long k, double mean) {
    return exponential_pass(p1, p2, m1, m2, k, mean, 0);
}

__attribute__((target("avx2,fma")))
static struct logitbounds_second_pass exponential_pass_avx2(const double *p1, const double *p2, double m1, double m2, long k, double mean) {
    return exponential_pass(p1, p2, m1, m2, k, mean, 4);
}

__attribute__((target("avx512f,fma")))
static struct logitbounds_second_pass exponential_pass_avx512(const double *p1, const double *p2, double m1, double m2, long k, double mean) {
    return exponential_pass(p1, p2, m1, m2, k, mean, 8);
}
#endif

struct logitbounds_second_pass logitbounds_midpoint_exponential_pass(const double *p1, const double *p2, double m1, double m2,
                                                                      long k, double mean, int width) {
#if defined(__x86_64__)
    if (width >= 8 && has_avx512()) return exponential_pass_avx512(p1, p2, m1, m2, k, mean);
    if (width >= 4 && has_avx2()) return exponential_pass_avx2(p1, p2, m1, m2, k, mean);
    if (has_fma()) return exponential_pass_fma(p1, p2, m1, m2, k, mean);
#endif
    return exponential_pass_generic(p1, p2, m1, m2, k, mean);
}

// The screen's logit rows (Numerics' LogitRowAccumulator): per row, running maxima and minima,
// the normalisers S = Σe^{x − m}, the cross sums Σe^{x − m}·δ and Σe^{x − m}·|δ| of both models,
// and Σ(a − b)², added block of labels by block; the sums rescaled by e^{m − m'} when a block
// raises a maximum. Four labels per step in four lanes (label j of a block in lane j mod 4, a
// short tail in lanes 0, 1, … with the rest masked off), each lane's sums added in lane order
// at the block's end — the order and operations of the Swift SIMD4 code this replaced, compiled
// plain, for AVX2 and for AVX-512 (there the terms of eight labels are formed in one vector and
// added to the four lanes in two steps), so the same bits everywhere. A screen: no bound rests
// on these sums.
#define SCREEN_LANES SUM_LANES   // four, as SIMD4 had: `lanes_total` adds them

// eˣ for x ≤ 0 on one lane: x = (64n + j)·ln2/64 + r, |r| ≤ ln2/128, e^r by its Taylor
// polynomial of degree 6, 2^{j/64} from `fractions`; 0 below −708.
static inline __attribute__((always_inline)) double screen_exp(double x, const double *fractions) {
    const double floor = -708.0, magic = 6755399441055744.0;
    double clamped = x < floor ? floor : x;
    double shifted = clamped * (64 / 0.6931471805599453) + magic;
    double m = shifted - magic;
    double r = (clamped - m * 0.010830424693267560) - m * 2.9815858269852933e-12;
    double p = 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1;
    p = p * r + 1;
    uint64_t shifted_bits, magic_bits;
    memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
    memcpy(&magic_bits, &magic, sizeof magic_bits);
    uint64_t integer = shifted_bits - magic_bits, j = integer & 63;
    int64_t n = (int64_t)(integer - j) >> 6;
    uint64_t scale_bits = ((uint64_t)n + 1023) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    double value = p * fractions[j] * scale;
    return x < floor ? 0.0 : value;
}

// Lanes' running sums of one block, as vectors of SCREEN_LANES (element-wise IEEE operations;
// without AVX, pairs of SSE2 or scalar instructions with the same results).
typedef double screen_vector __attribute__((vector_size(SCREEN_LANES * sizeof(double))));
struct screen_lanes { screen_vector s_a, c_a, m_a, s_b, c_b, m_b, sq; };

// (By pointer: a vector passed by value would change the ABI between the plain and AVX builds.)
static inline __attribute__((always_inline)) double screen_total(const screen_vector *v) {
    double lanes[SCREEN_LANES];
    memcpy(lanes, v, sizeof lanes);
    return lanes_total(lanes);
}

// The terms of SCREEN_WIDE labels, formed in one vector of eight on AVX-512 before they are
// added, four at a time, to the lanes.
#define SCREEN_WIDE 8
struct screen_terms { double e_a[SCREEN_WIDE], c_a[SCREEN_WIDE], m_a[SCREEN_WIDE], e_b[SCREEN_WIDE], c_b[SCREEN_WIDE], m_b[SCREEN_WIDE], sq[SCREEN_WIDE]; };

// The terms of one label (x, z) into slot i; `live` 0 masks a tail slot off.
static inline __attribute__((always_inline)) void screen_term(struct screen_terms *restrict t, int i, double x, double z, double live,
                                                              double ma, double mb, const double *fractions) {
    double difference = x - z, xc = x - ma, zc = z - mb, delta = xc - zc, magnitude = fabs(delta);
    double ea = screen_exp(xc, fractions) * live, eb = screen_exp(zc, fractions) * live;
    t->e_a[i] = ea; t->c_a[i] = ea * delta; t->m_a[i] = ea * magnitude;
    t->e_b[i] = eb; t->c_b[i] = eb * delta; t->m_b[i] = eb * magnitude;
    t->sq[i] = difference * (difference * live);   // a masked slot gives 0, not ∞·0, where the square overflows
}

// Slots first … first + 3 of `t` added to lanes 0…3.
static inline __attribute__((always_inline)) void screen_accumulate(struct screen_lanes *restrict l, const struct screen_terms *restrict t, int first) {
    // Four slots as one vector (loaded in place: a vector returned by value would change the
    // ABI between the plain and AVX builds).
#define SCREEN_LANE_ADD(lane, slots, op) do { screen_vector v_; memcpy(&v_, (slots) + first, sizeof v_); l->lane op v_; } while (0)
    SCREEN_LANE_ADD(s_a, t->e_a, +=); SCREEN_LANE_ADD(c_a, t->c_a, +=); SCREEN_LANE_ADD(m_a, t->m_a, +=);
    SCREEN_LANE_ADD(s_b, t->e_b, +=); SCREEN_LANE_ADD(c_b, t->c_b, -=); SCREEN_LANE_ADD(m_b, t->m_b, +=);
    SCREEN_LANE_ADD(sq, t->sq, +=);
#undef SCREEN_LANE_ADD
}

// Running maxima and minima of both models' logits, in SCREEN_WIDE lanes.
struct screen_extremes { double max_a[SCREEN_WIDE], min_a[SCREEN_WIDE], max_b[SCREEN_WIDE], min_b[SCREEN_WIDE]; };

static inline __attribute__((always_inline)) void screen_extend(struct screen_extremes *restrict e, int i, double x, double z) {
    e->max_a[i] = running_max(x, e->max_a[i]); e->min_a[i] = running_min(x, e->min_a[i]);
    e->max_b[i] = running_max(z, e->max_b[i]); e->min_b[i] = running_min(z, e->min_b[i]);
}

// `wide`: the terms of eight labels at once (label y + i in lane i mod 4, as four at a time
// puts it; each lane adds its first label's terms, then its second's), so the same bits.
static inline __attribute__((always_inline)) void screen_add(struct logitbounds_screen_row *restrict s, const double *restrict a,
                                                             const double *restrict b, long n, const double *restrict fractions, int wide) {
    if (n <= 0) return;
    // The block's maxima and minima in SCREEN_WIDE lanes, then across them: exact in any order
    // (of equal values, ±0, either may stand; NaN is passed over, as before).
    struct screen_extremes e;
    for (int i = 0; i < SCREEN_WIDE; i++) { e.max_a[i] = e.max_b[i] = -INFINITY; e.min_a[i] = e.min_b[i] = INFINITY; }
    long y = 0;
    for (; y + SCREEN_WIDE <= n; y += SCREEN_WIDE) {
#pragma clang loop vectorize(enable)
        for (int i = 0; i < SCREEN_WIDE; i++) screen_extend(&e, i, a[y + i], b[y + i]);
    }
    for (int i = 0; y < n; y++, i++) screen_extend(&e, i, a[y], b[y]);
    double block_max_a = -INFINITY, block_max_b = -INFINITY, block_min_a = INFINITY, block_min_b = INFINITY;
    for (int i = 0; i < SCREEN_WIDE; i++) {   // across the lanes (an empty lane holds ∓∞)
        block_max_a = running_max(e.max_a[i], block_max_a); block_min_a = running_min(e.min_a[i], block_min_a);
        block_max_b = running_max(e.max_b[i], block_max_b); block_min_b = running_min(e.min_b[i], block_min_b);
    }
    s->min_a = running_min(block_min_a, s->min_a);
    s->min_b = running_min(block_min_b, s->min_b);
    double new_max_a = block_max_a >= s->max_a ? block_max_a : s->max_a;
    double new_max_b = block_max_b >= s->max_b ? block_max_b : s->max_b;
    if (s->sum_a > 0 && (new_max_a != s->max_a || new_max_b != s->max_b)) {
        // δ of the labels so far grows by (m_B' − m_B) − (m_A' − m_A); the weights scale by e^{m − m'}.
        double shift = (new_max_b - s->max_b) - (new_max_a - s->max_a);
        double scale_a = exp(s->max_a - new_max_a), scale_b = exp(s->max_b - new_max_b);
        s->cross_a = scale_a * (s->cross_a + s->sum_a * shift);
        s->magnitude_a = scale_a * (s->magnitude_a + s->sum_a * fabs(shift));
        s->cross_b = scale_b * (s->cross_b - s->sum_b * shift);
        s->magnitude_b = scale_b * (s->magnitude_b + s->sum_b * fabs(shift));
        s->sum_a *= scale_a;
        s->sum_b *= scale_b;
    }
    s->max_a = new_max_a;
    s->max_b = new_max_b;
    double ma = s->max_a, mb = s->max_b;
    struct screen_lanes l;
    memset(&l, 0, sizeof l);
    struct screen_terms t;
    long full = n / SCREEN_LANES * SCREEN_LANES;
    y = 0;
    if (wide) {
        for (; y + SCREEN_WIDE <= full; y += SCREEN_WIDE) {
#pragma clang loop vectorize(enable) vectorize_width(8)
            for (int i = 0; i < SCREEN_WIDE; i++) screen_term(&t, i, a[y + i], b[y + i], 1.0, ma, mb, fractions);
            screen_accumulate(&l, &t, 0);
            screen_accumulate(&l, &t, SCREEN_LANES);
        }
    }
    for (; y < full; y += SCREEN_LANES) {
#pragma clang loop vectorize(enable) vectorize_width(4)
        for (int i = 0; i < SCREEN_LANES; i++) screen_term(&t, i, a[y + i], b[y + i], 1.0, ma, mb, fractions);
        screen_accumulate(&l, &t, 0);
    }
    if (full < n) {
        for (int i = 0; i < SCREEN_LANES; i++) {
            int used = full + i < n;
            screen_term(&t, i, used ? a[full + i] : ma, used ? b[full + i] : mb, used ? 1.0 : 0.0, ma, mb, fractions);
        }
        screen_accumulate(&l, &t, 0);
    }
    s->sum_a += screen_total(&l.s_a);
    s->cross_a += screen_total(&l.c_a);
    s->magnitude_a += screen_total(&l.m_a);
    s->sum_b += screen_total(&l.s_b);
    s->cross_b += screen_total(&l.c_b);
    s->magnitude_b += screen_total(&l.m_b);
    s->squares += screen_total(&l.sq);
}

static void screen_add_generic(struct logitbounds_screen_row *s, const double *a, const double *b, long n, const double *fractions) {
    screen_add(s, a, b, n, fractions, 0);
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void screen_add_avx2(struct logitbounds_screen_row *s, const double *a, const double *b, long n, const double *fractions) {
    screen_add(s, a, b, n, fractions, 0);
}

__attribute__((target("avx512f")))
static void screen_add_avx512(struct logitbounds_screen_row *s, const double *a, const double *b, long n, const double *fractions) {
    screen_add(s, a, b, n, fractions, 1);
}
#endif

void logitbounds_screen_row_add(struct logitbounds_screen_row *s, const double *a, const double *b, long n, const double *fractions, int width) {
#if defined(__x86_64__)
    if (width >= 8 && has_avx512()) { screen_add_avx512(s, a, b, n, fractions); return; }
    if (width >= 4 && has_avx2()) { screen_add_avx2(s, a, b, n, fractions); return; }
#endif
    screen_add_generic(s, a, b, n, fractions);
}
