/* Being written. */
#include "check_util.h"
static Suite *store_suite(void) { return suite_create("store"); }
KTX_CHECK_MAIN(store_suite)
