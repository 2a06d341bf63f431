/* Placeholder suite, being written. */
#include "check_util.h"

static Suite *conn_suite(void)
{
    return suite_create("conn");
}

KTX_CHECK_MAIN(conn_suite)
