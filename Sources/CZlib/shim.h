// zlib: raw-deflate streams inside .npz (zip) archives, and CRC-32.
#include <zlib.h>
