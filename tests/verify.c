/*
 * Test helper: the independent verification consumers (librdkafka's consumer and kcat).
 * See verify.h.
 */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

/* Milliseconds on a monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes a printf-style reason into |why| (when it is not NULL) and returns -1. */
static int fail(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* A malloc'ed copy of |len| bytes at |p|, or NULL for a NULL |p|. Sets |*oom| when the
 * allocation fails. An empty copy is a non-NULL one-byte buffer. */
static uint8_t *dup_bytes(const void *p, size_t len, bool *oom)
{
    uint8_t *copy;
    if (p == NULL)
        return NULL;
    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        *oom = true;
        return NULL;
    }
    if (len)
        memcpy(copy, p, len);
    return copy;
}

static void record_free(struct ktx_verify_record *rec)
{
    for (size_t i = 0; i < rec->header_count; i++) {
        free(rec->headers[i].key);
        free(rec->headers[i].value);
    }
    free(rec->headers);
    free(rec->key);
    free(rec->value);
    memset(rec, 0, sizeof(*rec));
}

void ktx_verify_topic_free(struct ktx_verify_topic *t)
{
    if (t == NULL)
        return;
    for (int32_t p = 0; p < t->partition_count && t->partitions; p++) {
        struct ktx_verify_partition *part = &t->partitions[p];
        for (size_t i = 0; i < part->count; i++)
            record_free(&part->records[i]);
        free(part->records);
    }
    free(t->partitions);
    free(t->topic);
    memset(t, 0, sizeof(*t));
}

/* Prepares |t| for |partition_count| empty partitions of |topic|. Returns 0 or -1. */
static int topic_init(struct ktx_verify_topic *t, const char *topic, int32_t partition_count)
{
    memset(t, 0, sizeof(*t));
    if (partition_count < 1 || partition_count > KTX_VERIFY_MAX_PARTITIONS)
        return -1;
    t->topic = strdup(topic);
    t->partitions = calloc((size_t)partition_count, sizeof(*t->partitions));
    if (t->topic == NULL || t->partitions == NULL) {
        ktx_verify_topic_free(t);
        return -1;
    }
    t->partition_count = partition_count;
    return 0;
}

/*
 * Moves |rec| (its buffers included) to the end of its partition in |t|. On failure (bad
 * partition, a ceiling, no memory) frees |rec|'s buffers and returns -1.
 */
static int topic_append(struct ktx_verify_topic *t, struct ktx_verify_record *rec)
{
    struct ktx_verify_partition *part;

    if (rec->partition < 0 || rec->partition >= t->partition_count ||
        ktx_verify_total(t) >= KTX_VERIFY_MAX_RECORDS)
        goto fail;
    part = &t->partitions[rec->partition];
    if (part->count == part->cap) {
        size_t cap = part->cap ? part->cap * 2 : 64;
        struct ktx_verify_record *np = realloc(part->records, cap * sizeof(*np));
        if (np == NULL)
            goto fail;
        part->records = np;
        part->cap = cap;
    }
    part->records[part->count++] = *rec;
    memset(rec, 0, sizeof(*rec));
    return 0;
fail:
    record_free(rec);
    return -1;
}

size_t ktx_verify_total(const struct ktx_verify_topic *t)
{
    size_t n = 0;
    for (int32_t p = 0; p < t->partition_count; p++)
        n += t->partitions[p].count;
    return n;
}

const struct ktx_verify_record *ktx_verify_find(const struct ktx_verify_topic *t,
                                                int32_t partition, int64_t offset)
{
    const struct ktx_verify_partition *part;

    if (partition < 0 || partition >= t->partition_count)
        return NULL;
    part = &t->partitions[partition];
    for (size_t i = 0; i < part->count; i++)
        if (part->records[i].offset == offset)
            return &part->records[i];
    return NULL;
}

bool ktx_verify_bytes_eq(const uint8_t *p, size_t len, const char *s)
{
    if (p == NULL || s == NULL)
        return p == NULL && s == NULL;
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

bool ktx_verify_offsets_increase(const struct ktx_verify_topic *t, char *why, size_t why_len)
{
    for (int32_t p = 0; p < t->partition_count; p++) {
        const struct ktx_verify_partition *part = &t->partitions[p];
        for (size_t i = 1; i < part->count; i++) {
            if (part->records[i].offset <= part->records[i - 1].offset) {
                fail(why, why_len, "partition %" PRId32 ": offset %" PRId64 " after %" PRId64, p,
                     part->records[i].offset, part->records[i - 1].offset);
                return false;
            }
        }
    }
    return true;
}

/* True when two optional byte strings are equal (both NULL, or same length and bytes). */
static bool opt_bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (a == NULL || b == NULL)
        return a == NULL && b == NULL;
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool headers_eq(const struct ktx_verify_record *a, const struct ktx_verify_record *b)
{
    if (a->header_count != b->header_count)
        return false;
    for (size_t i = 0; i < a->header_count; i++) {
        const struct ktx_verify_header *ha = &a->headers[i], *hb = &b->headers[i];
        if (strcmp(ha->key, hb->key) != 0 ||
            !opt_bytes_eq(ha->value, ha->value_len, hb->value, hb->value_len))
            return false;
    }
    return true;
}

bool ktx_verify_same(const struct ktx_verify_topic *a, const struct ktx_verify_topic *b,
                     bool compare_headers, char *why, size_t why_len)
{
    if (a->partition_count != b->partition_count) {
        fail(why, why_len, "%" PRId32 " partitions against %" PRId32, a->partition_count,
             b->partition_count);
        return false;
    }
    for (int32_t p = 0; p < a->partition_count; p++) {
        const struct ktx_verify_partition *pa = &a->partitions[p], *pb = &b->partitions[p];
        if (pa->count != pb->count) {
            fail(why, why_len, "partition %" PRId32 ": %zu records against %zu", p, pa->count,
                 pb->count);
            return false;
        }
        for (size_t i = 0; i < pa->count; i++) {
            const struct ktx_verify_record *ra = &pa->records[i], *rb = &pb->records[i];
            bool same = ra->offset == rb->offset &&
                        opt_bytes_eq(ra->key, ra->key_len, rb->key, rb->key_len) &&
                        opt_bytes_eq(ra->value, ra->value_len, rb->value, rb->value_len) &&
                        (!compare_headers || headers_eq(ra, rb));
            if (!same) {
                fail(why, why_len, "partition %" PRId32 " record %zu (offsets %" PRId64 "/%" PRId64 ") differs",
                     p, i, ra->offset, rb->offset);
                return false;
            }
        }
    }
    return true;
}

/* ---- librdkafka's consumer ---- */

static const char *isolation_name(enum ktx_verify_isolation isolation)
{
    return isolation == KTX_VERIFY_READ_COMMITTED ? "read_committed" : "read_uncommitted";
}

/* Creates the consumer. Returns it, or NULL with the reason in |why|. */
static rd_kafka_t *new_consumer(const char *bootstrap, enum ktx_verify_isolation isolation,
                                char *why, size_t why_len)
{
    const char *props[][2] = {
        {"bootstrap.servers", bootstrap}, {"group.id", "ktx-verify"},
        {"enable.partition.eof", "true"}, {"check.crcs", "true"},
        {"isolation.level", isolation_name(isolation)}, {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"}, {"fetch.wait.max.ms", "50"},
        {"log_level", "0"}, {"api.version.request", "true"},
    };
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            fail(why, why_len, "consumer conf %s: %s", props[i][0], err);
            return NULL;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        fail(why, why_len, "rd_kafka_new: %s", err);
    }
    return rk;
}

/* Asks the cluster for the partition count of |topic| until |deadline|. Returns it, or -1
 * with the reason in |why|. */
static int32_t partition_count_of(rd_kafka_t *rk, const char *topic, int64_t deadline, char *why,
                                  size_t why_len)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int32_t count = -1;

    if (rkt == NULL)
        return fail(why, why_len, "rd_kafka_topic_new failed");
    while (count < 0) {
        const struct rd_kafka_metadata *md = NULL;
        int left = (int)(deadline - now_ms());
        rd_kafka_resp_err_t err;

        if (left <= 0) {
            fail(why, why_len, "no metadata for topic %s in time", topic);
            break;
        }
        err = rd_kafka_metadata(rk, 0, rkt, &md, left);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
            md->topics[0].partition_cnt > 0)
            count = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (count < 0)
            usleep(50 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    return count;
}

/* Copies the headers of |m| into |rec|. Returns 0, or -1 when out of memory. */
static int copy_headers(const rd_kafka_message_t *m, struct ktx_verify_record *rec)
{
    rd_kafka_headers_t *hdrs = NULL;
    size_t n;
    bool oom = false;

    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == NULL)
        return 0;
    n = rd_kafka_header_cnt(hdrs);
    if (n == 0)
        return 0;
    rec->headers = calloc(n, sizeof(*rec->headers));
    if (rec->headers == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *val;
        size_t size;
        if (rd_kafka_header_get_all(hdrs, i, &name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        rec->header_count++;
        rec->headers[i].key = strdup(name);
        rec->headers[i].value = dup_bytes(val, size, &oom);
        rec->headers[i].value_len = size;
        if (rec->headers[i].key == NULL || oom)
            return -1;
    }
    return 0;
}

/* Appends the record |m| to |t|. Returns 0, or -1 with the reason in |why|. */
static int take_message(struct ktx_verify_topic *t, const rd_kafka_message_t *m, char *why,
                        size_t why_len)
{
    struct ktx_verify_record rec;
    bool oom = false;

    memset(&rec, 0, sizeof(rec));
    rec.partition = m->partition;
    rec.offset = m->offset;
    rec.timestamp = rd_kafka_message_timestamp(m, NULL);
    rec.key = dup_bytes(m->key, m->key_len, &oom);
    rec.key_len = m->key ? m->key_len : 0;
    rec.value = dup_bytes(m->payload, m->len, &oom);
    rec.value_len = m->payload ? m->len : 0;
    if (oom || copy_headers(m, &rec) != 0) {
        record_free(&rec);
        return fail(why, why_len, "out of memory");
    }
    if (topic_append(t, &rec) != 0)
        return fail(why, why_len, "record of partition %" PRId32 " refused (ceiling?)", m->partition);
    return 0;
}

/* Assigns every partition of |t| from the beginning. Returns 0 or -1. */
static int assign_all(rd_kafka_t *rk, const struct ktx_verify_topic *t, char *why, size_t why_len)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(t->partition_count);
    rd_kafka_resp_err_t err;

    for (int32_t p = 0; p < t->partition_count; p++)
        rd_kafka_topic_partition_list_add(parts, t->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err)
        return fail(why, why_len, "assign: %s", rd_kafka_err2str(err));
    return 0;
}

/* Polls |rk| until every partition of |t| reported EOF or |deadline| passed. */
static int consume_to_eof(rd_kafka_t *rk, struct ktx_verify_topic *t, int64_t deadline, char *why,
                          size_t why_len)
{
    bool *eof = calloc((size_t)t->partition_count, sizeof(*eof));
    int32_t eofs = 0;
    int rc = 0;

    if (eof == NULL)
        return fail(why, why_len, "out of memory");
    while (rc == 0 && eofs < t->partition_count) {
        rd_kafka_message_t *m;
        if (now_ms() >= deadline) {
            rc = fail(why, why_len, "only %" PRId32 " of %" PRId32 " partitions reached EOF in time",
                      eofs, t->partition_count);
            break;
        }
        m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < t->partition_count && !eof[m->partition]) {
                eof[m->partition] = true;
                eofs++;
            }
        } else if (m->err) {
            rc = fail(why, why_len, "consumer error: %s", rd_kafka_message_errstr(m));
        } else {
            rc = take_message(t, m, why, why_len);
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    return rc;
}

int ktx_verify_read(const char *bootstrap, const char *topic, enum ktx_verify_isolation isolation,
                    int timeout_ms, struct ktx_verify_topic *out, char *why, size_t why_len)
{
    int64_t deadline = now_ms() + timeout_ms;
    rd_kafka_t *rk;
    int32_t count;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    rk = new_consumer(bootstrap, isolation, why, why_len);
    if (rk == NULL)
        return -1;
    count = partition_count_of(rk, topic, deadline, why, why_len);
    if (count > 0 && topic_init(out, topic, count) != 0)
        fail(why, why_len, "%" PRId32 " partitions: too many or out of memory", count);
    else if (count > 0 && assign_all(rk, out, why, why_len) == 0)
        rc = consume_to_eof(rk, out, deadline, why, why_len);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rc != 0)
        ktx_verify_topic_free(out);
    return rc;
}

/* ---- kcat ---- */

/* kcat's output per record: partition, offset, timestamp, key length, value length (-1 for
 * null), then the key and value bytes, then the headers as "n=v" CSV, then a newline. */
#define KCAT_FORMAT "%p %o %T %K %S %k%s%h\\n"

/* Runs in the forked child: stdout to |out_fd|, stdin from /dev/null, then exec kcat. */
static void kcat_child(pid_t parent, int out_fd, char **argv)
{
    int devnull = open("/dev/null", O_RDONLY);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent || devnull < 0)
        _exit(127);
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
        _exit(127);
    execvp(argv[0], argv);
    _exit(127);
}

/* Appends what |fd| delivers until EOF into |*buf| (|*len| bytes). Returns 0, or -1 on
 * timeout, a read error or the output ceiling. */
static int read_all(int fd, int64_t deadline, char **buf, size_t *len)
{
    size_t cap = 0;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int left = (int)(deadline - now_ms());
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        if (*len + 65536 + 1 > cap) {
            char *np;
            if (cap >= KTX_VERIFY_MAX_KCAT_OUTPUT)
                return -1;
            cap = cap ? cap * 2 : 131072;
            np = realloc(*buf, cap);
            if (np == NULL)
                return -1;
            *buf = np;
        }
        n = read(fd, *buf + *len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    if (*buf != NULL)
        (*buf)[*len] = '\0';
    return 0;
}

/* Runs kcat with |argv| and stores its whole stdout in a malloc'ed |*buf| (|*len| bytes).
 * Returns 0 when kcat exited 0 within |deadline|, else -1 with the reason in |why|. */
static int run_kcat(char **argv, int64_t deadline, char **buf, size_t *len, char *why, size_t why_len)
{
    int fds[2], status = 0, rc;
    pid_t parent = getpid(), pid;

    *buf = NULL;
    *len = 0;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return fail(why, why_len, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid == 0)
        kcat_child(parent, fds[1], argv);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return fail(why, why_len, "fork: %s", strerror(errno));
    }
    rc = read_all(fds[0], deadline, buf, len);
    close(fds[0]);
    if (rc != 0)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc != 0)
        return fail(why, why_len, "kcat did not finish in time (or its output is too large)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(why, why_len, "kcat exited with status 0x%x (127: not installed)", status);
    return 0;
}

/* Parses a decimal integer at |*p| followed by one space; advances |*p|. */
static int parse_num(const char **p, const char *end, long long *out)
{
    char *stop;
    if (*p >= end)
        return -1;
    errno = 0;
    *out = strtoll(*p, &stop, 10);
    if (errno != 0 || stop == *p || stop >= end || *stop != ' ')
        return -1;
    *p = stop + 1;
    return 0;
}

/* Parses kcat's "n=v,n=v" header text of |len| bytes at |p| into |rec|. */
static int parse_kcat_headers(const char *p, size_t len, struct ktx_verify_record *rec)
{
    size_t n = 1;
    const char *end = p + len;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += p[i] == ',';
    rec->headers = calloc(n, sizeof(*rec->headers));
    if (rec->headers == NULL)
        return -1;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        struct ktx_verify_header *h = &rec->headers[rec->header_count++];
        bool oom = false;
        const char *key_end = eq ? eq : item_end;

        h->key = strndup(p, (size_t)(key_end - p));
        if (eq) {
            h->value_len = (size_t)(item_end - eq - 1);
            h->value = dup_bytes(eq + 1, h->value_len, &oom);
        }
        if (h->key == NULL || oom)
            return -1;
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* Parses one record of kcat's output at |*p|; advances |*p| past its newline. */
static int parse_kcat_record(const char **p, const char *end, struct ktx_verify_record *rec)
{
    long long part, offset, ts, klen, vlen;
    const char *nl;
    bool oom = false;

    if (parse_num(p, end, &part) || parse_num(p, end, &offset) || parse_num(p, end, &ts) ||
        parse_num(p, end, &klen) || parse_num(p, end, &vlen) || klen < -1 || vlen < -1 ||
        part < 0 || part > INT32_MAX)
        return -1;
    if ((size_t)(end - *p) < (size_t)(klen > 0 ? klen : 0) + (size_t)(vlen > 0 ? vlen : 0))
        return -1;
    rec->partition = (int32_t)part;
    rec->offset = offset;
    rec->timestamp = ts;
    rec->key_len = klen > 0 ? (size_t)klen : 0;
    rec->key = klen >= 0 ? dup_bytes(*p, rec->key_len, &oom) : NULL;
    *p += rec->key_len;
    rec->value_len = vlen > 0 ? (size_t)vlen : 0;
    rec->value = vlen >= 0 ? dup_bytes(*p, rec->value_len, &oom) : NULL;
    *p += rec->value_len;
    nl = memchr(*p, '\n', (size_t)(end - *p));
    if (oom || nl == NULL || parse_kcat_headers(*p, (size_t)(nl - *p), rec) != 0)
        return -1;
    *p = nl + 1;
    return 0;
}

/* Parses kcat's whole output into |t|. */
static int parse_kcat_output(const char *buf, size_t len, struct ktx_verify_topic *t, char *why,
                             size_t why_len)
{
    const char *p = buf, *end = buf + len;

    while (p < end) {
        struct ktx_verify_record rec;
        memset(&rec, 0, sizeof(rec));
        if (parse_kcat_record(&p, end, &rec) != 0) {
            record_free(&rec);
            return fail(why, why_len, "unparsable kcat output at byte %zu", (size_t)(p - buf));
        }
        if (topic_append(t, &rec) != 0)
            return fail(why, why_len, "kcat record refused (partition out of range or ceiling)");
    }
    return 0;
}

int ktx_verify_read_kcat(const char *bootstrap, const char *topic,
                         enum ktx_verify_isolation isolation, int32_t partition_count,
                         int timeout_ms, struct ktx_verify_topic *out, char *why, size_t why_len)
{
    char iso[64];
    char *argv[] = {"kcat", "-C", "-q", "-e", "-b", (char *)bootstrap, "-t", (char *)topic,
                    "-o", "beginning", "-X", "check.crcs=true", "-X", iso, "-X", "log_level=0",
                    "-f", KCAT_FORMAT, NULL};
    char *buf = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(iso, sizeof(iso), "isolation.level=%s", isolation_name(isolation));
    if (topic_init(out, topic, partition_count) != 0)
        return fail(why, why_len, "bad partition count %" PRId32, partition_count);
    rc = run_kcat(argv, now_ms() + timeout_ms, &buf, &len, why, why_len);
    if (rc == 0)
        rc = parse_kcat_output(buf ? buf : "", len, out, why, why_len);
    free(buf);
    if (rc != 0)
        ktx_verify_topic_free(out);
    return rc;
}
