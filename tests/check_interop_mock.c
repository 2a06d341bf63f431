/* Interop of kafkatx's codecs with librdkafka's mock cluster: being written. */
#include "check_util.h"

static Suite *interop_mock_suite(void)
{
    return suite_create("interop_mock");
}

KTX_CHECK_MAIN(interop_mock_suite)
