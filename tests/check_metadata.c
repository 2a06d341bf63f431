/* Placeholder suite, being written. */
#include "check_util.h"

static Suite *metadata_suite(void)
{
    return suite_create("metadata");
}

KTX_CHECK_MAIN(metadata_suite)
