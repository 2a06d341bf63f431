#include "check_util.h"

static Suite *sasl_suite(void)
{
    return suite_create("sasl");
}

KTX_CHECK_MAIN(sasl_suite)
