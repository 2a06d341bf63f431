/* conn: placeholder, being written. */
#include "conn.h"
typedef int ktx__conn_placeholder;
