/* The shared library libturso_sync.so: the C API's code comes from the static library (linked whole); this
 * translation unit checks that turso_sync.h is valid C. */
#include "turso_sync.h"
