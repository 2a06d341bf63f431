/* Being written. */
#include "store.h"
int ktx__store_placeholder_sqlite(void);
int ktx__store_placeholder_sqlite(void) { return 0; }
