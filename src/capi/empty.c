/* The C API lives in the static library; this file only gives the shared library a source. */
