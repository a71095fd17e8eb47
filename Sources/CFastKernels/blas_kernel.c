// Chooses OpenBLAS's kernel where OpenBLAS itself fell back to its generic one.
//
// OpenBLAS built with DYNAMIC_ARCH picks its kernels at load time from the CPU's family and
// model. A model it does not know gets the Prescott kernels (SSE3, 2004) whatever the CPU
// can do: Debian bookworm's OpenBLAS 0.3.21 on an Intel Xeon of family 6, model 207
// (Emerald Rapids, AVX-512) ran dgemm at 15 GFLOP/s per core where its SkylakeX kernels run
// at 75 (notes/findings.md, stop 47). This constructor runs after OpenBLAS's own (the loader
// initialises a shared library before the program that links it) and before main or any
// BLAS call. Where OPENBLAS_CORETYPE is unset and OpenBLAS chose Prescott, it lists the
// kernels the CPU and operating system support from CPUID and XGETBV — SkylakeX (AVX-512 F,
// CD, DQ, BW and VL with ZMM state saved), Haswell (AVX2 and FMA), SandyBridge (AVX) — and
// asks OpenBLAS to initialise again with the best of them it takes (a build may lack one), as
// if OPENBLAS_CORETYPE had named it. The variable stays set, so child processes (shards, the
// tests' command-line runs) use the same kernel; their `--version` then says the variable chose
// it. Anything unexpected (a BLAS without these entry points, another CPU, no listed kernel
// taken) leaves OpenBLAS as it was. LOGITBOUNDS_TEST_PRESCOTT_FALLBACK (tests only) puts OpenBLAS
// on Prescott first, as on an unknown CPU.
#define _GNU_SOURCE
#include "fast_kernels.h"
#include <stdlib.h>
#include <strings.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <dlfcn.h>

static const char *chosen_kernel = 0;
static int fallback_simulated = 0;

// Whether the operating system saves the register state in `mask` (XCR0).
static int state_saved(unsigned mask) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & mask) == mask;
}

// The kernels the CPU and operating system support, best first, ending with 0.
static void supported_kernels(const char *list[4]) {
    int n = 0;
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int avx = (c & bit_AVX) && state_saved(0x6), fma = (c & bit_FMA) != 0;
        unsigned b7 = 0;
        if (__get_cpuid_max(0, 0) >= 7) {
            unsigned a7, c7, d7;
            __cpuid_count(7, 0, a7, b7, c7, d7);
        }
        int avx2 = avx && (b7 & bit_AVX2);
        unsigned avx512 = bit_AVX512F | bit_AVX512CD | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
        if (avx2 && fma && (b7 & avx512) == avx512 && state_saved(0xE6)) list[n++] = "SkylakeX";
        if (avx2 && fma) list[n++] = "Haswell";
        if (avx) list[n++] = "SandyBridge";
    }
    list[n] = 0;
}

__attribute__((constructor)) static void logitbounds_choose_blas_kernel(void) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    if (!corename || !init || !quit) return;
    // The tests' stand-in for OpenBLAS's fallback on a CPU it does not know, so that the choice
    // below runs on every machine (CommandLineTests' blasKernelChoice): start from Prescott.
    if (getenv("LOGITBOUNDS_TEST_PRESCOTT_FALLBACK")) {
        fallback_simulated = 1;
        setenv("OPENBLAS_CORETYPE", "Prescott", 1);
        quit();
        init();
        unsetenv("OPENBLAS_CORETYPE");
    }
    const char *current = corename();
    if (!current || strcasecmp(current, "Prescott") != 0) return;
    // The best kernel OpenBLAS takes (a build without one may give another under its name).
    const char *kernels[4];
    supported_kernels(kernels);
    for (int i = 0; kernels[i]; i++) {
        setenv("OPENBLAS_CORETYPE", kernels[i], 1);
        quit();
        init();
        const char *now = corename();
        if (now && strcasecmp(now, kernels[i]) == 0) {
            chosen_kernel = kernels[i];
            return;
        }
    }
    // OpenBLAS took none of them: back to its own choice.
    unsetenv("OPENBLAS_CORETYPE");
    quit();
    init();
}

const char *logitbounds_blas_kernel_chosen(void) { return chosen_kernel; }
int logitbounds_blas_fallback_simulated(void) { return fallback_simulated; }
#else
const char *logitbounds_blas_kernel_chosen(void) { return 0; }
int logitbounds_blas_fallback_simulated(void) { return 0; }
#endif
