// MPFR needs gmp.h first.
#include <stdio.h>
#include <gmp.h>
#include <mpfr.h>
