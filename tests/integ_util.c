/*
 * Producer-side helpers of the producer integration suites. See integ_util.h.
 */
#include "integ_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "check_util.h"
#include "proto_txn.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define INTEG_HAVE_VALGRIND_H 1
#endif
#endif

#define READ_TIMEOUT_MS 30000

bool integ_under_valgrind(void)
{
#ifdef INTEG_HAVE_VALGRIND_H
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

int integ_ms(int ms)
{
    return integ_under_valgrind() ? ms * 5 : ms;
}

int integ_describe_producer(const struct ktx_test_cluster *c, int broker_id, const char *topic,
                            int32_t partition, int64_t *producer_id, int32_t *producer_epoch)
{
    int32_t parts[1] = {partition};
    struct ktx__describe_producers_req_topic rt = {ktx__str_c(topic), parts, 1};
    struct ktx__describe_producers_req req = {&rt, 1};
    struct ktx__describe_producers_resp resp;
    struct ktx_test_exchange ex;
    const struct ktx__describe_producers_partition *dp;
    int fd = ktx_test_cluster_connect(c, broker_id, 5000);
    int rc, count;

    ck_assert_int_ge(fd, 0);
    memset(&ex, 0, sizeof(ex));
    rc = ktx_test_exchange(fd, &ktx__proto_codec_describe_producers, 0, &req, &resp, &ex, 5000);
    close(fd);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(resp.topic_count, 1);
    ck_assert_int_eq(resp.topics[0].partition_count, 1);
    dp = &resp.topics[0].partitions[0];
    ck_assert_int_eq(dp->error_code, 0);
    count = dp->active_producer_count;
    for (int i = 0; i < count; i++) {
        const struct ktx__describe_producers_producer_state *st = &dp->active_producers[i];
        if (i == 0 || st->producer_id > *producer_id ||
            (st->producer_id == *producer_id && st->producer_epoch > *producer_epoch)) {
            *producer_id = st->producer_id;
            *producer_epoch = st->producer_epoch;
        }
    }
    ktx_test_exchange_free(&ex);
    return count;
}

void integ_ok(ktx_error_t *err, const char *what)
{
    ck_assert_msg(err == NULL, "%s: %s: %s", what, ktx_error_name(err), ktx_error_message(err));
}

void integ_cmd(struct ktx_test_cluster *c, const char *line)
{
    int rc = ktx_test_cluster_cmd(c, "%s", line);
    ck_assert_msg(rc == 0, "'%s' answered %d: %s", line, rc, ktx_test_cluster_last_error(c));
}

struct ktx_test_cluster *integ_cluster(enum ktx_test_peer peer, int brokers, const char *const *extra,
                                       const char *topic, int partitions)
{
    struct ktx_test_cluster *c = NULL;
    char line[256];

    ck_assert_int_eq(ktx_test_cluster_start(&c, peer, brokers, extra), 0);
    if (topic != NULL) {
        snprintf(line, sizeof(line), "topic %s %d %d", topic, partitions, brokers < 3 ? brokers : 3);
        integ_cmd(c, line);
    }
    return c;
}

/* ---- records ---- */

void integ_run_init(struct integ_run *run, const char *topic, int32_t partition_count)
{
    memset(run, 0, sizeof(*run));
    ck_assert_int_lt(partition_count, INTEG_MAX_PARTITIONS + 1);
    snprintf(run->topic, sizeof(run->topic), "%s", topic);
    run->partition_count = partition_count;
    for (int i = 0; i < INTEG_MAX_PARTITIONS; i++)
        run->last_reported[i] = -1;
}

static void rec_free(struct integ_rec *rec)
{
    free(rec->key);
    free(rec->value);
    for (size_t h = 0; h < rec->header_count; h++) {
        free((char *)rec->headers[h].key);
        free((void *)rec->headers[h].value);
    }
    memset(rec, 0, sizeof(*rec));
}

void integ_run_truncate(struct integ_run *run, size_t n)
{
    for (size_t i = n; i < run->n; i++)
        rec_free(&run->recs[i]);
    if (n < run->n)
        run->n = n;
}

void integ_run_free(struct integ_run *run)
{
    integ_run_truncate(run, 0);
    free(run->recs);
    memset(run, 0, sizeof(*run));
}

/* A malloc'ed copy of the NUL-terminated |s| (without the NUL) as bytes. */
static uint8_t *text_bytes(const char *s, size_t *len)
{
    *len = strlen(s);
    uint8_t *p = malloc(*len + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, *len + 1);
    return p;
}

/* Fills the headers of record |i| (see integ_gen()). */
static void gen_headers(struct integ_rec *rec, size_t i)
{
    char buf[64];

    if (i % 5 == 0 || i % 5 == 1) {
        size_t len;
        snprintf(buf, sizeof(buf), "h-%zu", i);
        rec->headers[0].key = strdup("trace");
        rec->headers[0].value = text_bytes(buf, &len);
        rec->headers[0].value_len = len;
        ck_assert_ptr_nonnull(rec->headers[0].key);
        rec->header_count = 1;
    }
    if (i % 5 == 0) {
        rec->headers[1].key = strdup("empty");
        rec->headers[1].value = NULL; /* a null header value */
        rec->headers[1].value_len = 0;
        ck_assert_ptr_nonnull(rec->headers[1].key);
        rec->header_count = 2;
    }
}

/* Fills the key and value of record |i|: the "#i|" tag goes into the value, or into the key
 * when the value is null. */
static void gen_key_value(struct integ_rec *rec, size_t i, uint64_t seed, size_t max_value)
{
    bool null_key = i % 7 == 3, null_value = i % 11 == 5 && !null_key;
    char tag[64];
    size_t tag_len = (size_t)snprintf(tag, sizeof(tag), "#%zu|", i);

    if (!null_key) {
        char key[96];
        snprintf(key, sizeof(key), "%skey-%" PRIu64, null_value ? tag : "", (seed * 31 + i * 7) % 997);
        rec->key = text_bytes(key, &rec->key_len);
    }
    if (!null_value) {
        size_t extra = max_value ? (size_t)((seed + i * 2654435761u) % (max_value + 1)) : 0;
        rec->value = malloc(tag_len + extra + 1);
        ck_assert_ptr_nonnull(rec->value);
        memcpy(rec->value, tag, tag_len);
        ktx_test_fill_random(rec->value + tag_len, extra, seed * 1000003u + i);
        rec->value_len = tag_len + extra;
    }
}

/* Computes, with librdkafka's own murmur2 partitioner on a topic handle, where each keyed
 * record among |recs| [from, to) must land. */
static void expect_by_murmur2(struct integ_run *run, size_t from, size_t to)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;

    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);
    rkt = rd_kafka_topic_new(rk, run->topic, NULL);
    ck_assert_ptr_nonnull(rkt);
    for (size_t i = from; i < to; i++) {
        struct integ_rec *rec = &run->recs[i];
        rec->expect_partition = rec->key == NULL ? -1
            : rd_kafka_msg_partitioner_murmur2(rkt, rec->key, rec->key_len, run->partition_count,
                                               NULL, NULL);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

void integ_gen(struct integ_run *run, size_t n, uint64_t seed, size_t max_value,
               enum integ_partitioning partitioning)
{
    size_t from = run->n;

    if (run->n + n > run->cap) {
        size_t cap = run->n + n;
        struct integ_rec *np = realloc(run->recs, cap * sizeof(*np));
        ck_assert_ptr_nonnull(np);
        run->recs = np;
        run->cap = cap;
    }
    for (size_t i = from; i < from + n; i++) {
        struct integ_rec *rec = &run->recs[i];
        memset(rec, 0, sizeof(*rec));
        gen_key_value(rec, i, seed, max_value);
        gen_headers(rec, i);
        rec->dr_partition = -1;
        rec->dr_offset = -1;
        if (partitioning == INTEG_ROUND_ROBIN) {
            rec->partition = (int32_t)(i % (size_t)run->partition_count);
            rec->expect_partition = rec->partition;
        } else {
            rec->partition = KTX_PARTITION_ANY;
        }
    }
    run->n += n;
    if (partitioning == INTEG_BY_KEY)
        expect_by_murmur2(run, from, run->n);
}

/* ---- the producer ---- */

/* Records one delivery report in the run (opaque of the conf) for the record whose index
 * + 1 is the record's opaque. */
static void on_report(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    struct integ_run *run = opaque;
    size_t i = (size_t)(uintptr_t)dr->opaque - 1;
    struct integ_rec *rec;

    (void)producer;
    run->reports++;
    if (i >= run->n) {
        run->order_violations++;
        snprintf(run->first_violation, sizeof(run->first_violation), "report with a bad opaque");
        return;
    }
    rec = &run->recs[i];
    rec->reports++;
    rec->err = dr->error ? ktx_error_code(dr->error) : 0;
    rec->dr_partition = dr->partition;
    rec->dr_offset = dr->offset;
    if (dr->partition >= 0 && dr->partition < INTEG_MAX_PARTITIONS) {
        if ((int64_t)i <= run->last_reported[dr->partition] && run->order_violations++ == 0)
            snprintf(run->first_violation, sizeof(run->first_violation),
                     "partition %" PRId32 ": report of record %zu after record %" PRId64, dr->partition,
                     i, run->last_reported[dr->partition]);
        run->last_reported[dr->partition] = (int64_t)i;
    }
}

/* Writes the producer's log lines to stderr (only with KTX_INTEG_LOG set). */
static void on_log(int level, const char *facility, const char *message, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "[ktx %d %s] %s\n", level, facility, message);
}

static void set(ktx_conf_t *conf, const char *name, const char *value)
{
    integ_ok(ktx_conf_set(conf, name, value), name);
}

ktx_producer_t *integ_producer(struct integ_run *run, const char *bootstrap, const char *const *props)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_producer_t *producer = NULL;
    const char *log = getenv("KTX_INTEG_LOG");

    ck_assert_ptr_nonnull(conf);
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "linger.ms", "5");
    set(conf, "request.timeout.ms", "5000");
    set(conf, "delivery.timeout.ms", "30000");
    set(conf, "retry.backoff.ms", "50");
    set(conf, "retry.backoff.max.ms", "200");
    set(conf, "reconnect.backoff.ms", "20");
    set(conf, "reconnect.backoff.max.ms", "200");
    for (; props != NULL && props[0] != NULL; props += 2)
        set(conf, props[0], props[1]);
    ktx_conf_set_dr_cb(conf, on_report, run);
    if (log != NULL && *log != '\0') {
        ktx_conf_set_log_cb(conf, on_log, NULL);
    }
    integ_ok(ktx_producer_new(&producer, conf), "ktx_producer_new");
    ck_assert_ptr_nonnull(producer);
    return producer;
}

ktx_error_t *integ_send_one(ktx_producer_t *producer, struct integ_run *run, size_t i)
{
    const struct integ_rec *rec = &run->recs[i];
    ktx_record_t r;

    memset(&r, 0, sizeof(r));
    r.topic = run->topic;
    r.partition = rec->partition;
    r.key = rec->key;
    r.key_len = rec->key_len;
    r.value = rec->value;
    r.value_len = rec->value_len;
    r.headers = rec->header_count ? rec->headers : NULL;
    r.header_count = rec->header_count;
    r.opaque = (void *)(uintptr_t)(i + 1);
    return ktx_send(producer, &r);
}

void integ_send(ktx_producer_t *producer, struct integ_run *run, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        ktx_error_t *err = integ_send_one(producer, run, i);
        ck_assert_msg(err == NULL, "ktx_send of record %zu: %s: %s", i, ktx_error_name(err),
                      ktx_error_message(err));
        if (i % 64 == 63)
            ktx_poll(producer, 0);
    }
}

bool integ_wait_reports(ktx_producer_t *producer, struct integ_run *run, size_t count, int timeout_ms)
{
    int64_t deadline = ktx_test_now_ms() + timeout_ms;

    while (run->reports < count && ktx_test_now_ms() < deadline)
        ktx_poll(producer, 50);
    return run->reports >= count;
}

/* ---- the comparison ---- */

/* Returns the index tagged "#<index>|" at the start of the value (or of the key for a null
 * value) of |rec|, or -1. */
static long tag_of(const struct ktx_verify_record *rec)
{
    const uint8_t *p = rec->value ? rec->value : rec->key;
    size_t len = rec->value ? rec->value_len : rec->key_len;
    long idx = 0;
    size_t i = 1;

    if (p == NULL || len < 3 || p[0] != '#')
        return -1;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && i < 12; i++)
        idx = idx * 10 + (p[i] - '0');
    return i > 1 && i < len && p[i] == '|' ? idx : -1;
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (a == NULL || b == NULL)
        return a == NULL && b == NULL;
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* True when the consumer's |got| has the key, value and headers of |want|. */
static bool same_content(const struct integ_rec *want, const struct ktx_verify_record *got)
{
    if (!bytes_eq(want->key, want->key_len, got->key, got->key_len) ||
        !bytes_eq(want->value, want->value_len, got->value, got->value_len) ||
        want->header_count != got->header_count)
        return false;
    for (size_t h = 0; h < want->header_count; h++) {
        if (strcmp(want->headers[h].key, got->headers[h].key) != 0 ||
            !bytes_eq(want->headers[h].value, want->headers[h].value_len, got->headers[h].value,
                      got->headers[h].value_len))
            return false;
    }
    return true;
}

/* A failed record that may nevertheless have been written (docs/api.md). */
static bool maybe_written(const struct integ_rec *rec)
{
    return !rec->absent && (rec->err == KTX_ERR_MSG_TIMED_OUT || rec->err == KTX_ERR_PURGED);
}

/* Checks the reports alone: one per record, in order, delivered where expected. */
static bool check_reports(const struct integ_run *run, unsigned flags, char *why, size_t why_len)
{
    bool all_delivered = flags & INTEG_ALL_DELIVERED;

    if (run->order_violations && !(flags & INTEG_AT_LEAST_ONCE)) {
        snprintf(why, why_len, "reports out of send order: %s", run->first_violation);
        return false;
    }
    for (size_t i = 0; i < run->n; i++) {
        const struct integ_rec *rec = &run->recs[i];
        if (rec->reports != 1) {
            snprintf(why, why_len, "record %zu got %d delivery reports", i, rec->reports);
            return false;
        }
        if (all_delivered && rec->err != 0) {
            snprintf(why, why_len, "record %zu failed: %s", i, ktx_err_name(rec->err));
            return false;
        }
        if (rec->err == 0 && rec->expect_partition >= 0 && rec->dr_partition != rec->expect_partition) {
            snprintf(why, why_len, "record %zu reported on partition %" PRId32 ", expected %" PRId32, i,
                     rec->dr_partition, rec->expect_partition);
            return false;
        }
    }
    return true;
}

/* Checks every record the consumer read against the run; marks the indexes seen in |seen|. */
static bool check_log(const struct integ_run *run, const struct ktx_verify_topic *read, bool *seen,
                      unsigned flags, char *why, size_t why_len)
{
    for (int32_t p = 0; p < read->partition_count; p++) {
        long prev = -1;
        for (size_t k = 0; k < read->partitions[p].count; k++) {
            const struct ktx_verify_record *got = &read->partitions[p].records[k];
            long i = tag_of(got);
            const struct integ_rec *rec = i >= 0 && (size_t)i < run->n ? &run->recs[i] : NULL;
            const char *problem = NULL;

            bool strict = !(flags & INTEG_AT_LEAST_ONCE);

            if (rec == NULL)
                problem = "a record that was never sent";
            else if (seen[i] && strict)
                problem = "a DUPLICATE";
            else if (i <= prev && strict)
                problem = "out of send order";
            else if (!same_content(rec, got))
                problem = "content differs from what was sent";
            else if (strict && rec->err == 0 && (rec->dr_partition != p || rec->dr_offset != got->offset))
                problem = "not at the partition/offset of its delivery report";
            else if (rec->err != 0 && !maybe_written(rec))
                problem = "reported failed (and could not have been written), yet written";
            if (problem != NULL) {
                snprintf(why, why_len, "partition %" PRId32 " offset %" PRId64 " (record %ld): %s", p,
                         got->offset, i, problem);
                return false;
            }
            seen[i] = true;
            prev = i;
        }
    }
    return true;
}

bool integ_check(const struct integ_run *run, const struct ktx_verify_topic *read, unsigned flags,
                 char *why, size_t why_len)
{
    bool *seen;
    bool ok;

    if (!check_reports(run, flags, why, why_len))
        return false;
    seen = calloc(run->n + 1, sizeof(*seen));
    ck_assert_ptr_nonnull(seen);
    ok = check_log(run, read, seen, flags, why, why_len);
    for (size_t i = 0; ok && i < run->n; i++) {
        const struct integ_rec *rec = &run->recs[i];
        const struct ktx_verify_record *at;
        if (rec->err != 0)
            continue;
        at = ktx_verify_find(read, rec->dr_partition, rec->dr_offset);
        if (!seen[i] || at == NULL || tag_of(at) != (long)i) {
            snprintf(why, why_len, "record %zu reported delivered at %" PRId32 "/%" PRId64 " is %s", i,
                     rec->dr_partition, rec->dr_offset, seen[i] ? "elsewhere" : "LOST");
            ok = false;
        }
    }
    free(seen);
    return ok;
}

/* Appends a per-partition summary of |read| (record count, first and last offset) to |why|,
 * so that a failure message shows the shape of the log. */
static void describe_read(const struct ktx_verify_topic *read, char *why, size_t why_len)
{
    for (int32_t p = 0; p < read->partition_count; p++) {
        const struct ktx_verify_partition *part = &read->partitions[p];
        size_t used = strlen(why);
        if (used + 1 >= why_len)
            return;
        snprintf(why + used, why_len - used, "; log %" PRId32 ": %zu records, offsets %" PRId64 "..%" PRId64,
                 p, part->count, part->count ? part->records[0].offset : -1,
                 part->count ? part->records[part->count - 1].offset : -1);
    }
}

void integ_assert_exactly_once(const struct integ_run *run, const char *bootstrap, unsigned flags)
{
    struct ktx_verify_topic read;
    char why[1024] = "";

    ck_assert_msg(ktx_verify_read(bootstrap, run->topic, KTX_VERIFY_READ_UNCOMMITTED, READ_TIMEOUT_MS,
                                  &read, why, sizeof(why)) == 0,
                  "verification consumer: %s", why);
    ck_assert_int_eq(read.partition_count, run->partition_count);
    bool ok = integ_check(run, &read, flags, why, sizeof(why));
    if (!ok)
        describe_read(&read, why, sizeof(why));
    ktx_verify_topic_free(&read);
    ck_assert_msg(ok, "%s", why);
}

void integ_assert_strided_partition(const struct ktx_verify_topic *t, int32_t p, uint32_t stride,
                                    uint64_t total)
{
    const struct ktx_verify_partition *part = &t->partitions[p];
    uint64_t want = (uint64_t)p;
    size_t i;

    for (i = 0; i < part->count && want < total; i++, want += stride) {
        char got[32], exp[32];

        snprintf(got, sizeof(got), "%.*s", (int)part->records[i].value_len,
                 (const char *)part->records[i].value);
        snprintf(exp, sizeof(exp), "%llu", (unsigned long long)want);
        ck_assert_msg(strcmp(got, exp) == 0,
                      "partition %d offset %zu: got %s, want %s (a duplicate or a gap)", (int)p,
                      i, got, exp);
    }
    ck_assert_msg(want >= total, "partition %d: only %zu records, the next wanted is %llu",
                  (int)p, part->count, (unsigned long long)want);
    ck_assert_msg(i == part->count, "partition %d: %zu records after the last one wanted",
                  (int)p, part->count - i);
}
