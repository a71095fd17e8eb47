// CBLAS from OpenBLAS, plus its thread-count control.
#include <cblas.h>
