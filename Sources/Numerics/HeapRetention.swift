import CMalloc

/// Keeps freed heap memory in the process instead of returning it to the system
/// after every burst of frees. The harness allocates and frees many small matrices
/// and rationals per model pair; with glibc's default (dynamic) thresholds each
/// worker's heap is trimmed and regrown constantly, thousands of brk/mprotect calls
/// and page faults per second (measured: 9 589 mprotect and 2 448 brk calls in a
/// 3 000-pair run, ~10 % of its CPU time in the kernel). Process-wide and idempotent;
/// glibc only (a no-op elsewhere).
public enum HeapRetention {
    public static func enable() {
        #if os(Linux)
        _ = mallopt(M_TRIM_THRESHOLD, 256 << 20)   // trim only beyond 256 MiB of free top
        _ = mallopt(M_TOP_PAD, 64 << 20)           // grow the heap in 64 MiB steps
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)    // blocks below 32 MiB come from the heap
        #endif
    }
}
