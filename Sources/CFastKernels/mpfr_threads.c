// MPFR keeps per-thread caches (the constant log 2 that exp and log use, an mpz pool),
// which only mpfr_free_cache2 frees. A thread that exits without calling it loses them:
// a bounded leak per thread, which LeakSanitizer reports with stacks ending in GMP's
// allocator. A thread-specific key's destructor runs on the exiting thread while its
// thread-local storage is still valid, and frees them there.
#include <pthread.h>
#include <stdio.h>
#include <gmp.h>
#include <mpfr.h>
#include "mpfr_threads.h"

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_local_caches(void *unused) {
    (void)unused;
    mpfr_free_cache2(MPFR_FREE_LOCAL_CACHE);
}

static void make_key(void) { pthread_key_create(&key, free_local_caches); }

// The exponent range is per thread too. MPFR's default, [1 − 2³⁰, 2³⁰ − 1], puts e^{−7.4·10⁸}
// below its least number: a KL_x of a pair one ulp apart at logits near 10⁹ rounded to
// [0, tiny], and T6 could not be decided. Every thread widens it to the largest range MPFR
// supports (about 2^{±4.6·10¹⁸}) before its first MPFR number, so every value any thread
// makes lies in every thread's range.
void logitbounds_mpfr_thread_uses(void) {
    pthread_once(&once, make_key);
    if (pthread_getspecific(key) == NULL) {
        mpfr_set_emin(mpfr_get_emin_min());
        mpfr_set_emax(mpfr_get_emax_max());
        pthread_setspecific(key, (void *)1);
    }
}
