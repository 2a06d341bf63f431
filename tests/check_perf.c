/*
 * Suite of the benchmark's measurement code (tools/perf-common.c), shared by ktx-perf and
 * rdkafka-perf: histogram precision, option parsing, payload and keys, the timed window and
 * the result line that tools/perf-compare.sh parses. No timing is asserted: speed is measured
 * by the benchmark itself, never in a unit test.
 */
#include "check_util.h"
#include "perf-common.h"

#include <stdlib.h>
#include <string.h>

/* The histogram's promised precision: 1/64 of the value. */
static void assert_close(uint64_t got, uint64_t want)
{
    uint64_t diff = got > want ? got - want : want - got;

    ck_assert_msg(diff * 64 <= want, "got %llu, want %llu within 1/64", (unsigned long long)got,
                  (unsigned long long)want);
}

START_TEST(test_perf_hist_reads_percentiles_of_uniform_values_within_precision)
{
    static struct perf_hist hist;

    memset(&hist, 0, sizeof(hist));
    for (uint64_t v = 1; v <= 100000; v++)
        perf_hist_record(&hist, v * 1000);
    ck_assert_uint_eq(hist.count, 100000);
    assert_close(perf_hist_percentile(&hist, 50), 50000000);
    assert_close(perf_hist_percentile(&hist, 95), 95000000);
    assert_close(perf_hist_percentile(&hist, 99), 99000000);
    assert_close(perf_hist_percentile(&hist, 99.9), 99900000);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 100), 100000000);
    ck_assert_uint_eq(hist.max, 100000000);
}
END_TEST

START_TEST(test_perf_hist_keeps_small_values_exact)
{
    static struct perf_hist hist;

    memset(&hist, 0, sizeof(hist));
    perf_hist_record(&hist, 1);
    perf_hist_record(&hist, 2);
    perf_hist_record(&hist, 3);
    perf_hist_record(&hist, 100);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 25), 1);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 50), 2);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 75), 3);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 100), 100);
}
END_TEST

START_TEST(test_perf_hist_reads_zero_when_empty)
{
    static struct perf_hist hist;

    memset(&hist, 0, sizeof(hist));
    ck_assert_uint_eq(perf_hist_percentile(&hist, 50), 0);
    ck_assert_uint_eq(perf_hist_percentile(&hist, 99.9), 0);
}
END_TEST

START_TEST(test_perf_hist_reads_any_single_value_back_within_precision)
{
    static struct perf_hist hist;
    uint64_t seeds[512];

    ktx_test_fill_random((uint8_t *)seeds, sizeof(seeds), 7);
    for (size_t i = 0; i < 512; i++) {
        /* Every magnitude from 1 ns to 2^63 ns, bucket edges included. */
        uint64_t v = seeds[i] >> (i % 64);
        if (i % 3 == 0)
            v = (1ull << (i % 64)) - (i % 2);
        if (v == 0)
            v = 1;
        memset(&hist, 0, sizeof(hist));
        perf_hist_record(&hist, v);
        ck_assert_uint_le(perf_hist_percentile(&hist, 50), v);
        assert_close(perf_hist_percentile(&hist, 50), v);
        ck_assert_uint_eq(perf_hist_percentile(&hist, 100), v);
    }
}
END_TEST

START_TEST(test_perf_hist_percentiles_never_decrease)
{
    static struct perf_hist hist;
    uint32_t vals[4096];
    uint64_t last = 0;

    memset(&hist, 0, sizeof(hist));
    ktx_test_fill_random((uint8_t *)vals, sizeof(vals), 11);
    for (size_t i = 0; i < 4096; i++)
        perf_hist_record(&hist, vals[i]);
    for (double p = 1; p <= 100; p += 0.5) {
        uint64_t v = perf_hist_percentile(&hist, p);
        ck_assert_uint_ge(v, last);
        last = v;
    }
    ck_assert_uint_eq(last, hist.max);
}
END_TEST

START_TEST(test_perf_opts_parse_reads_every_option)
{
    char *argv[] = {"ktx-perf", "-b", "h:1,h:2", "-t", "perf", "-n", "1000", "-s", "100",
                    "--mode", "transactional", "--txn-records", "250", "-z", "zstd", "-k",
                    "-p", "6", "--poll-every", "8", "-q", "-v", "-X", "batch.size=65536",
                    "-X", "client.id=a=b", NULL};
    struct perf_opts opts;

    ck_assert_int_eq(perf_opts_parse(26, argv, &opts, "ktx-perf"), 0);
    ck_assert_str_eq(opts.bootstrap, "h:1,h:2");
    ck_assert_str_eq(opts.topic, "perf");
    ck_assert_int_eq(opts.records, 1000);
    ck_assert_uint_eq(opts.size, 100);
    ck_assert_int_eq(opts.mode, PERF_MODE_TRANSACTIONAL);
    ck_assert_int_eq(opts.txn_records, 250);
    ck_assert_str_eq(opts.compression, "zstd");
    ck_assert(opts.keyed);
    ck_assert_int_eq(opts.warmup_partitions, 6);
    ck_assert_int_eq(opts.poll_every, 8);
    ck_assert(opts.quiet);
    ck_assert(opts.verbose);
    ck_assert_int_eq(opts.n_props, 2);
    ck_assert_str_eq(opts.props[0].name, "batch.size");
    ck_assert_str_eq(opts.props[0].value, "65536");
    ck_assert_str_eq(opts.props[1].name, "client.id");
    ck_assert_str_eq(opts.props[1].value, "a=b");
    perf_opts_free(&opts);
}
END_TEST

START_TEST(test_perf_opts_parse_defaults_to_idempotent_uncompressed_keyless)
{
    char *argv[] = {"rdkafka-perf", "-b", "h:1", "-t", "perf", "-n", "10", NULL};
    struct perf_opts opts;

    ck_assert_int_eq(perf_opts_parse(7, argv, &opts, "rdkafka-perf"), 0);
    ck_assert_int_eq(opts.mode, PERF_MODE_IDEMPOTENT);
    ck_assert_str_eq(opts.compression, "none");
    ck_assert(!opts.keyed);
    ck_assert(!opts.quiet);
    ck_assert(!opts.verbose);
    ck_assert_uint_eq(opts.size, 0);
    ck_assert_int_eq(opts.txn_records, 10000);
    ck_assert_int_eq(opts.poll_every, 1);
    ck_assert_int_eq(opts.warmup_partitions, 0);
    ck_assert_int_eq(opts.n_props, 0);
    perf_opts_free(&opts);
}
END_TEST

START_TEST(test_perf_opts_parse_refuses_bad_arguments)
{
    char *bad_mode[] = {"p", "-b", "h:1", "-t", "t", "-n", "1", "--mode", "exactly", NULL};
    char *no_topic[] = {"p", "-b", "h:1", "-n", "1", NULL};
    char *bad_codec[] = {"p", "-b", "h:1", "-t", "t", "-n", "1", "-z", "lz4", NULL};
    char *bad_prop[] = {"p", "-b", "h:1", "-t", "t", "-n", "1", "-X", "linger.ms", NULL};
    char *zero_n[] = {"p", "-b", "h:1", "-t", "t", "-n", "0", NULL};
    char *stray[] = {"p", "-b", "h:1", "-t", "t", "-n", "5", "extra", NULL};
    char *help[] = {"p", "-h", NULL};
    struct perf_opts opts;

    ck_assert_int_eq(perf_opts_parse(9, bad_mode, &opts, "p"), 2);
    ck_assert_int_eq(perf_opts_parse(5, no_topic, &opts, "p"), 2);
    ck_assert_int_eq(perf_opts_parse(9, bad_codec, &opts, "p"), 2);
    ck_assert_int_eq(perf_opts_parse(9, bad_prop, &opts, "p"), 2);
    ck_assert_int_eq(opts.n_props, 0);
    ck_assert_int_eq(perf_opts_parse(7, zero_n, &opts, "p"), 2);
    ck_assert_int_eq(perf_opts_parse(8, stray, &opts, "p"), 2);
    ck_assert_int_eq(perf_opts_parse(2, help, &opts, "p"), 1);
}
END_TEST

START_TEST(test_perf_key_is_sixteen_zero_padded_digits)
{
    char key[16];

    perf_key_format(key, 42);
    ck_assert(memcmp(key, "0000000000000042", 16) == 0);
    perf_key_format(key, 1234567890123456ull);
    ck_assert(memcmp(key, "1234567890123456", 16) == 0);
}
END_TEST

START_TEST(test_perf_payload_is_the_same_upper_case_letters_every_time)
{
    char *a = perf_payload_new(1000), *b = perf_payload_new(1000);
    int distinct[26] = {0}, kinds = 0;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(memcmp(a, b, 1000) == 0);
    for (size_t i = 0; i < 1000; i++) {
        ck_assert(a[i] >= 'A' && a[i] <= 'Z');
        if (distinct[a[i] - 'A']++ == 0)
            kinds++;
    }
    ck_assert_int_eq(kinds, 26); /* not a constant fill that compression would flatten */
    free(a);
    free(b);
}
END_TEST

/* Returns the report of |run| as a malloc'ed string. */
static char *report_text(const struct perf_run *run, const char *note)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(out);
    perf_report(run, out, note);
    fclose(out);
    return text;
}

/* Returns the last line of |text| (borrowed from it; the trailing newline removed). */
static const char *last_line(char *text)
{
    size_t len = strlen(text);
    char *nl;

    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(text[len - 1], '\n');
    text[len - 1] = '\0';
    nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

START_TEST(test_perf_run_counts_only_reports_inside_the_window)
{
    static struct perf_run run;
    struct perf_opts opts = {.records = 4, .size = 100, .compression = "none",
                             .mode = PERF_MODE_IDEMPOTENT};
    uint64_t now;

    perf_run_init(&run, &opts, "kafkatx");
    perf_on_delivery(&run, perf_now_ns(), NULL); /* warm-up: not counted */
    perf_window_begin(&run);
    now = perf_now_ns();
    perf_on_delivery(&run, now, NULL);
    perf_on_delivery(&run, now, "Broker: Not enough in-sync replicas");
    perf_on_delivery(&run, now, "second error");
    perf_on_delivery(&run, now, NULL);
    perf_window_end(&run);
    perf_on_delivery(&run, now, NULL); /* after the window: not counted */
    ck_assert_uint_eq(run.delivered, 2);
    ck_assert_uint_eq(run.failed, 2);
    ck_assert_uint_eq(run.latency.count, 2);
    ck_assert_str_eq(run.first_error, "Broker: Not enough in-sync replicas");
    ck_assert_uint_ge(run.t_end_ns, run.t_start_ns);
}
END_TEST

START_TEST(test_perf_report_ends_with_the_key_value_line)
{
    static struct perf_run run;
    struct perf_opts opts = {.records = 4, .size = 250, .compression = "zstd",
                             .mode = PERF_MODE_IDEMPOTENT};
    char *text;
    const char *line;

    perf_run_init(&run, &opts, "librdkafka");
    run.t_start_ns = 1000000000;
    run.t_end_ns = 3000000000; /* 2 s for 4 records of 250 bytes */
    run.ru_end.ru_utime.tv_usec = 6; /* 6 us user + 2 us system over 4 records */
    run.ru_end.ru_stime.tv_usec = 2;
    run.delivered = 4;
    /* Bucket middles, so that the figures read back exactly. */
    perf_hist_record(&run.latency, 2007040);
    perf_hist_record(&run.latency, 4014080);
    run.batches = 9;
    run.requests = 3;
    text = report_text(&run, "a note");
    ck_assert_ptr_nonnull(strstr(text, "  note         a note\n"));
    line = last_line(text);
    ck_assert_str_eq(line, "client=librdkafka mode=idempotent records=4 size=250 compression=zstd "
                           "delivered=4 failed=0 elapsed_s=2.000 records_per_s=2 mb_per_s=0.00 "
                           "cpu_us_per_record=2.000 p50_ms=2.007 p95_ms=4.014 p99_ms=4.014 "
                           "p999_ms=4.014 max_ms=4.014 batches_per_request=3.00");
    free(text);
}
END_TEST

START_TEST(test_perf_report_adds_commit_figures_in_transactional_mode)
{
    static struct perf_run run;
    struct perf_opts opts = {.records = 10, .size = 1, .compression = "none", .quiet = true,
                             .mode = PERF_MODE_TRANSACTIONAL};
    char *text;

    perf_run_init(&run, &opts, "kafkatx");
    run.t_start_ns = 0;
    run.t_end_ns = 1000000000;
    perf_hist_record(&run.commit, 5013504); /* bucket middles */
    perf_hist_record(&run.commit, 6979584);
    text = report_text(&run, NULL);
    /* Quiet: one line only, no batching figure when the client cannot say. */
    ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
    ck_assert_ptr_null(strstr(text, "batches_per_request"));
    ck_assert_ptr_nonnull(strstr(text, " mode=transactional "));
    ck_assert_ptr_nonnull(strstr(text, " records_per_s=10 "));
    ck_assert_ptr_nonnull(strstr(text, " commits=2 commit_p50_ms=5.014 commit_p99_ms=6.980 "
                                       "commit_max_ms=6.980\n"));
    free(text);
}
END_TEST

static Suite *perf_suite(void)
{
    Suite *s = suite_create("perf");
    TCase *hist = tcase_create("hist");
    TCase *opts = tcase_create("opts");
    TCase *run = tcase_create("run");

    tcase_add_test(hist, test_perf_hist_reads_percentiles_of_uniform_values_within_precision);
    tcase_add_test(hist, test_perf_hist_keeps_small_values_exact);
    tcase_add_test(hist, test_perf_hist_reads_zero_when_empty);
    tcase_add_test(hist, test_perf_hist_reads_any_single_value_back_within_precision);
    tcase_add_test(hist, test_perf_hist_percentiles_never_decrease);
    suite_add_tcase(s, hist);
    tcase_add_test(opts, test_perf_opts_parse_reads_every_option);
    tcase_add_test(opts, test_perf_opts_parse_defaults_to_idempotent_uncompressed_keyless);
    tcase_add_test(opts, test_perf_opts_parse_refuses_bad_arguments);
    tcase_add_test(opts, test_perf_key_is_sixteen_zero_padded_digits);
    tcase_add_test(opts, test_perf_payload_is_the_same_upper_case_letters_every_time);
    suite_add_tcase(s, opts);
    tcase_add_test(run, test_perf_run_counts_only_reports_inside_the_window);
    tcase_add_test(run, test_perf_report_ends_with_the_key_value_line);
    tcase_add_test(run, test_perf_report_adds_commit_figures_in_transactional_mode);
    suite_add_tcase(s, run);
    return s;
}

KTX_CHECK_MAIN(perf_suite)
