/* The SQLite state store: being written (NAME=store). */
#ifndef KTX_STORE_H
#define KTX_STORE_H
#include "ktx_int.h"
#endif
