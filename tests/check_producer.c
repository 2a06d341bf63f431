#include "check_util.h"
Suite *producer_suite(void) { return suite_create("producer"); }
KTX_CHECK_MAIN(producer_suite)
