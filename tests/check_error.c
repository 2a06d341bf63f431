/*
 * Unit tests for the error object and the error table (sdk/error.c), and for docs/errors.md
 * matching the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "error.h"

START_TEST(test_error_names_follow_kafka)
{
    ck_assert_str_eq(ktx_err_name(KTX_ERR_PRODUCER_FENCED), "PRODUCER_FENCED");
    ck_assert_str_eq(ktx_err_name(90), "PRODUCER_FENCED");
    ck_assert_str_eq(ktx_err_name(120), "TRANSACTION_ABORTABLE");
    ck_assert_str_eq(ktx_err_name(-1), "UNKNOWN_SERVER_ERROR");
    ck_assert_str_eq(ktx_err_name(0), "NONE");
    ck_assert_str_eq(ktx_err_name(6), "NOT_LEADER_OR_FOLLOWER");
    ck_assert_str_eq(ktx_err_name(17), "INVALID_TOPIC_EXCEPTION");
    ck_assert_str_eq(ktx_err_name(59), "UNKNOWN_PRODUCER_ID");
    ck_assert_str_eq(ktx_err_name(133), "SHARE_SESSION_LIMIT_REACHED");
}
END_TEST

START_TEST(test_error_local_codes_have_underscore_names)
{
    ck_assert_str_eq(ktx_err_name(KTX_ERR_TIMED_OUT), "_TIMED_OUT");
    ck_assert_str_eq(ktx_err_name(KTX_ERR_TRANSPORT), "_TRANSPORT");
    ck_assert_str_eq(ktx_err_name(KTX_ERR_BAD_CONFIG), "_BAD_CONFIG");
    ck_assert_str_eq(ktx_err_name(KTX_ERR_PRODUCER_ID_RESET), "_PRODUCER_ID_RESET");
    ck_assert(ktx__err_is_retriable(KTX_ERR_TIMED_OUT));
    ck_assert(ktx__err_is_retriable(KTX_ERR_TRANSPORT));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_BAD_CONFIG));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_MSG_TIMED_OUT));
}
END_TEST

START_TEST(test_error_retriable_matches_kafka_classes)
{
    static const int retriable[] = {2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70,
                                    71, 72, 74, 75, 78, 80, 83, 84, 88, 89, 100, 103, 106, 122,
                                    123, 133};
    size_t n = 0, count;
    const struct ktx__err_desc *table = ktx__err_table(&count);

    for (size_t i = 0; i < KTX__ARRAY_LEN(retriable); i++)
        ck_assert_msg(ktx__err_is_retriable(retriable[i]), "code %d should be retriable",
                      retriable[i]);
    /* Exactly these Kafka codes are retriable: no more. */
    for (size_t i = 0; i < count; i++)
        if (table[i].code >= -1 && table[i].retriable)
            n++;
    ck_assert_uint_eq(n, KTX__ARRAY_LEN(retriable));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_PRODUCER_FENCED));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_UNKNOWN_PRODUCER_ID));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_TRANSACTION_ABORTABLE));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_INVALID_PRODUCER_EPOCH));
    ck_assert(!ktx__err_is_retriable(KTX_ERR_UNKNOWN_SERVER_ERROR));
}
END_TEST

START_TEST(test_error_table_is_complete_sorted_and_described)
{
    size_t count;
    const struct ktx__err_desc *table = ktx__err_table(&count);
    int expect_kafka = -1;

    for (size_t i = 0; i < count; i++) {
        ck_assert_ptr_nonnull(table[i].name);
        ck_assert_ptr_nonnull(table[i].desc);
        ck_assert_msg(strlen(table[i].name) > 2, "code %d", table[i].code);
        ck_assert_msg(strlen(table[i].desc) > 5, "code %d", table[i].code);
        ck_assert_msg(table[i].desc[strlen(table[i].desc) - 1] == '.', "code %d", table[i].code);
        ck_assert_msg(strchr(table[i].desc, '\n') == NULL, "code %d", table[i].code);
        if (i > 0)
            ck_assert_int_lt(table[i - 1].code, table[i].code);
        ck_assert_ptr_eq(ktx__err_lookup(table[i].code), &table[i]);
        if (table[i].code <= -100) {
            ck_assert_msg(table[i].name[0] == '_', "local code %d", table[i].code);
        } else {
            /* Kafka's codes run without a gap from -1 to the last one. */
            ck_assert_int_eq(table[i].code, expect_kafka);
            ck_assert(table[i].name[0] != '_');
            expect_kafka++;
        }
    }
    ck_assert_int_ge(expect_kafka - 1, 133);
    /* Every local code in the public enum, -117 .. -100, has a row. */
    for (int code = KTX_ERR_PRODUCER_ID_RESET; code <= KTX_ERR_BAD_MSG; code++)
        ck_assert_ptr_nonnull(ktx__err_lookup(code));
}
END_TEST

START_TEST(test_error_unknown_code_gets_generic_name)
{
    ktx_error_t *err = ktx__error_new(4242, 0, NULL);

    ck_assert_str_eq(ktx_err_name(4242), "UNKNOWN_CODE");
    ck_assert_str_eq(ktx_err_name(-99), "UNKNOWN_CODE");
    ck_assert_str_eq(ktx_error_name(err), "UNKNOWN_CODE_4242");
    ck_assert_int_eq(ktx_error_code(err), 4242);
    ck_assert(!ktx_error_is_retriable(err));
    ck_assert_str_eq(ktx_error_message(err), ktx_err_description(4242));
    ck_assert_ptr_null(ktx__err_lookup(4242));
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_error_new_formats_message_and_takes_class_from_table)
{
    ktx_error_t *err = ktx__error_new(KTX_ERR_NOT_COORDINATOR, 0, "coordinator %d moved", 3);

    ck_assert_int_eq(ktx_error_code(err), 16);
    ck_assert_str_eq(ktx_error_name(err), "NOT_COORDINATOR");
    ck_assert_str_eq(ktx_error_message(err), "coordinator 3 moved");
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 0);
    ck_assert_int_eq(ktx_error_is_fatal(err), 0);
    ktx_error_destroy(err);

    err = ktx__error_new(KTX_ERR_PRODUCER_FENCED, 0, NULL);
    ck_assert_int_eq(ktx_error_is_retriable(err), 0);
    ck_assert_int_eq(ktx_error_is_fatal(err), 0);
    ck_assert_str_eq(ktx_error_message(err), ktx_err_description(KTX_ERR_PRODUCER_FENCED));
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_error_flags_override_table_class)
{
    ktx_error_t *err;

    /* Retriable in the table, but the caller says abortable only. */
    err = ktx__error_new(KTX_ERR_NOT_COORDINATOR, KTX__ERR_F_ABORTABLE, "x");
    ck_assert_int_eq(ktx_error_is_retriable(err), 0);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 1);
    ck_assert_int_eq(ktx_error_is_fatal(err), 0);
    ktx_error_destroy(err);

    err = ktx__error_new(KTX_ERR_PRODUCER_FENCED, KTX__ERR_F_FATAL, "fenced by epoch %d", 7);
    ck_assert_int_eq(ktx_error_is_fatal(err), 1);
    ck_assert_int_eq(ktx_error_is_retriable(err), 0);
    ck_assert_str_eq(ktx_error_message(err), "fenced by epoch 7");
    ktx_error_destroy(err);

    err = ktx__error_new(KTX_ERR_INVALID_ARG, KTX__ERR_F_RETRIABLE, NULL);
    ck_assert_int_eq(ktx_error_is_retriable(err), 1);
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_error_fatal_is_never_retriable_nor_abortable)
{
    ktx_error_t *err = ktx__error_new(KTX_ERR_TIMED_OUT,
                                      KTX__ERR_F_FATAL | KTX__ERR_F_RETRIABLE | KTX__ERR_F_ABORTABLE,
                                      NULL);

    ck_assert_int_eq(ktx_error_is_fatal(err), 1);
    ck_assert_int_eq(ktx_error_is_retriable(err), 0);
    ck_assert_int_eq(ktx_error_txn_requires_abort(err), 0);
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_error_copy_is_independent)
{
    ktx_error_t *err = ktx__error_new(KTX_ERR_TRANSACTION_ABORTABLE, KTX__ERR_F_ABORTABLE,
                                      "partition %s failed", "t-0");
    ktx_error_t *copy = ktx__error_copy(err);
    ktx_error_t *unknown = ktx__error_new(777, 0, "odd");
    ktx_error_t *copy2 = ktx__error_copy(unknown);

    ck_assert_ptr_ne(copy, err);
    ktx_error_destroy(err);
    ck_assert_int_eq(ktx_error_code(copy), 120);
    ck_assert_str_eq(ktx_error_name(copy), "TRANSACTION_ABORTABLE");
    ck_assert_str_eq(ktx_error_message(copy), "partition t-0 failed");
    ck_assert_int_eq(ktx_error_txn_requires_abort(copy), 1);
    ktx_error_destroy(copy);
    ktx_error_destroy(unknown);
    ck_assert_str_eq(ktx_error_name(copy2), "UNKNOWN_CODE_777");
    ck_assert_str_eq(ktx_error_message(copy2), "odd");
    ktx_error_destroy(copy2);
    ck_assert_ptr_null(ktx__error_copy(NULL));
}
END_TEST

START_TEST(test_error_accessors_accept_null_as_success)
{
    ck_assert_int_eq(ktx_error_code(NULL), KTX_ERR_NONE);
    ck_assert_str_eq(ktx_error_name(NULL), "NONE");
    ck_assert_ptr_nonnull(ktx_error_message(NULL));
    ck_assert_int_eq(ktx_error_is_retriable(NULL), 0);
    ck_assert_int_eq(ktx_error_txn_requires_abort(NULL), 0);
    ck_assert_int_eq(ktx_error_is_fatal(NULL), 0);
    ktx_error_destroy(NULL);
}
END_TEST

START_TEST(test_error_oom_error_is_static_and_survives_destroy)
{
    ktx_error_t *oom = ktx__error_oom();
    ktx_error_t *copy = ktx__error_copy(oom);

    ck_assert_ptr_nonnull(oom);
    ck_assert_int_eq(ktx_error_code(oom), KTX_ERR_NO_MEMORY);
    ck_assert_str_eq(ktx_error_name(oom), "_NO_MEMORY");
    ck_assert_ptr_nonnull(strstr(ktx_error_message(oom), "memory"));
    ck_assert_int_eq(ktx_error_is_retriable(oom), 0);
    ck_assert_int_eq(ktx_error_is_fatal(oom), 0);
    ck_assert_ptr_eq(copy, oom);
    ktx_error_destroy(copy);
    ktx_error_destroy(oom);
    /* Still usable after being "destroyed" twice. */
    ck_assert_int_eq(ktx_error_code(ktx__error_oom()), KTX_ERR_NO_MEMORY);
}
END_TEST

START_TEST(test_error_long_message_is_kept_whole)
{
    char big[3000];
    ktx_error_t *err;

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err = ktx__error_new(KTX_ERR_STATE, 0, "%s!", big);
    ck_assert_uint_eq(strlen(ktx_error_message(err)), sizeof(big));
    ck_assert_int_eq(ktx_error_message(err)[sizeof(big) - 1], '!');
    ktx_error_destroy(err);
}
END_TEST

START_TEST(test_error_doc_lists_every_code_with_its_class)
{
    char *doc = ktx_test_read_source_file("docs/errors.md");
    size_t count, rows = 0;
    const struct ktx__err_desc *table = ktx__err_table(&count);
    char row[512];

    for (size_t i = 0; i < count; i++) {
        snprintf(row, sizeof(row), "| %d | `%s` | %s | %s |", table[i].code, table[i].name,
                 table[i].retriable ? "yes" : "no", table[i].desc);
        ck_assert_msg(strstr(doc, row) != NULL, "docs/errors.md lacks the row: %s", row);
    }
    /* And no row that the table lacks: count the table rows of the doc. */
    for (const char *p = doc; (p = strstr(p, "\n| ")) != NULL; p++) {
        int code;
        if (sscanf(p, "\n| %d | `", &code) == 1) {
            ck_assert_msg(ktx__err_lookup(code) != NULL, "docs/errors.md lists unknown %d", code);
            rows++;
        }
    }
    ck_assert_uint_eq(rows, count);
    free(doc);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("error");

    tcase_add_test(tc, test_error_names_follow_kafka);
    tcase_add_test(tc, test_error_local_codes_have_underscore_names);
    tcase_add_test(tc, test_error_retriable_matches_kafka_classes);
    tcase_add_test(tc, test_error_table_is_complete_sorted_and_described);
    tcase_add_test(tc, test_error_unknown_code_gets_generic_name);
    tcase_add_test(tc, test_error_new_formats_message_and_takes_class_from_table);
    tcase_add_test(tc, test_error_flags_override_table_class);
    tcase_add_test(tc, test_error_fatal_is_never_retriable_nor_abortable);
    tcase_add_test(tc, test_error_copy_is_independent);
    tcase_add_test(tc, test_error_accessors_accept_null_as_success);
    tcase_add_test(tc, test_error_oom_error_is_static_and_survives_destroy);
    tcase_add_test(tc, test_error_long_message_is_kept_whole);
    tcase_add_test(tc, test_error_doc_lists_every_code_with_its_class);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(error_suite)
