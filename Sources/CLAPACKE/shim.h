// LAPACKE, the C interface to LAPACK (row-major layout is used throughout).
#include <lapacke.h>

// lapack_int is a macro in lapack.h; give Swift a type name for it.
typedef lapack_int lapacke_index;
