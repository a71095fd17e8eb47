#ifndef LOGITBOUNDS_MPFR_THREADS_H
#define LOGITBOUNDS_MPFR_THREADS_H

/// Marks the calling thread as one that uses MPFR: when it exits, its MPFR caches are
/// freed (mpfr_threads.c). Cheap after the first call on a thread.
void logitbounds_mpfr_thread_uses(void);

#endif
