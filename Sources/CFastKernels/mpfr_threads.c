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

void logitbounds_mpfr_thread_uses(void) {
    pthread_once(&once, make_key);
    if (pthread_getspecific(key) == NULL) pthread_setspecific(key, (void *)1);
}
