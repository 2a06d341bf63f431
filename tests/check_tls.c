#include "check_util.h"

static Suite *tls_suite(void)
{
    return suite_create("tls");
}

KTX_CHECK_MAIN(tls_suite)
