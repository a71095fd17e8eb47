// GMP. The mpq_* and mpz_* names are C macros; Swift calls the __gmpq_* / __gmpz_* symbols.
#include <gmp.h>
