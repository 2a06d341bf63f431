/*
 * ktx-verify: checks what ktx-pipe wrote with a consumer that shares no code with kafkatx
 * (librdkafka's, read_committed, CRC checks on). Test tool only; never installed.
 *
 *   ktx-verify -b BOOTSTRAP -t TOPIC -n RECORDS_IN [--input FILE] [--timeout-ms MS]
 *
 * Reads every partition of TOPIC from the beginning to its end (librdkafka's partition EOF,
 * which read_committed reports at the last stable offset) and counts, for the keys 0 ..
 * RECORDS_IN-1 that ktx-pipe gives its records (the input line number, in decimal):
 *   committed   distinct keys read;
 *   duplicates  records read beyond the first of their key (0 when exactly once);
 *   missing     keys never read;
 *   unexpected  records whose key is not a number below RECORDS_IN;
 *   mismatched  records whose value differs from line KEY of FILE (with --input only).
 * It prints one line "records_in=N committed=N duplicates=0 missing=0 unexpected=0
 * mismatched=0 read=N" and exits 0 only when committed = records_in and every other count
 * is 0; 1 otherwise, 2 for a usage error, 3 when the topic could not be read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_RECORDS_IN 100000000L
#define MAX_PARTITIONS 1024

struct verify {
    const char *bootstrap;
    const char *topic;
    long records_in;
    const char *input;
    int timeout_ms;
    uint8_t *seen;        /* per key: times read, saturating at 255 */
    char **lines;         /* input lines by key, with --input */
    size_t *line_lens;
    int64_t read, duplicates, unexpected, mismatched;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Loads |v->input| into |v->lines| (line i at index i). Returns 0 or -1. */
static int load_input(struct verify *v)
{
    FILE *f = fopen(v->input, "r");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    long i = 0;
    if (!f) {
        fprintf(stderr, "ktx-verify: %s: %s\n", v->input, strerror(errno));
        return -1;
    }
    v->lines = calloc((size_t)v->records_in, sizeof(*v->lines));
    v->line_lens = calloc((size_t)v->records_in, sizeof(*v->line_lens));
    while (v->lines && v->line_lens && i < v->records_in && (n = getline(&buf, &cap, f)) >= 0) {
        if (n > 0 && buf[n - 1] == '\n')
            n--;
        v->lines[i] = malloc((size_t)n + 1);
        if (!v->lines[i])
            break;
        memcpy(v->lines[i], buf, (size_t)n);
        v->line_lens[i++] = (size_t)n;
    }
    free(buf);
    fclose(f);
    if (i != v->records_in) {
        fprintf(stderr, "ktx-verify: %s: %ld lines read, %ld expected\n", v->input, i,
                v->records_in);
        return -1;
    }
    return 0;
}

/* Parses a key: a decimal number below records_in, without sign or leading zeros. */
static long parse_key(const struct verify *v, const char *key, size_t len)
{
    long k = 0;
    if (!key || len == 0 || len > 10 || (len > 1 && key[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (key[i] < '0' || key[i] > '9')
            return -1;
        k = k * 10 + (key[i] - '0');
    }
    return k < v->records_in ? k : -1;
}

/* Counts one record read. */
static void account(struct verify *v, const rd_kafka_message_t *msg)
{
    long k = parse_key(v, msg->key, msg->key_len);
    v->read++;
    if (k < 0) {
        v->unexpected++;
        return;
    }
    if (v->seen[k] > 0)
        v->duplicates++;
    if (v->seen[k] < 255)
        v->seen[k]++;
    if (v->lines && (msg->len != v->line_lens[k] ||
                     (msg->len && memcmp(msg->payload, v->lines[k], msg->len) != 0)))
        v->mismatched++;
}

static rd_kafka_t *new_consumer(const struct verify *v)
{
    const char *props[][2] = {
        {"bootstrap.servers", v->bootstrap}, {"group.id", "ktx-verify"},
        {"enable.partition.eof", "true"},   {"check.crcs", "true"},
        {"isolation.level", "read_committed"}, {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},  {"fetch.wait.max.ms", "50"},
        {"log_level", "3"},
    };
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "ktx-verify: %s: %s\n", props[i][0], err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ktx-verify: rd_kafka_new: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Returns the partition count of the topic from the cluster's metadata, or -1. */
static int partition_count(rd_kafka_t *rk, const char *topic_name, int timeout_ms)
{
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, topic_name, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int count = -1;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &md, timeout_ms);
    if (err)
        fprintf(stderr, "ktx-verify: metadata: %s\n", rd_kafka_err2str(err));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        fprintf(stderr, "ktx-verify: topic %s: %s\n", topic_name,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not in metadata");
    else
        count = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(topic);
    return count;
}

/* Reads every partition from the beginning until each reported EOF. Returns 0 or -1. */
static int consume_all(struct verify *v, rd_kafka_t *rk, int partitions)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    bool eof[MAX_PARTITIONS] = {false};
    int eofs = 0, rc = -1;
    int64_t deadline = now_ms() + v->timeout_ms;
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, v->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, list) != 0) {
        fprintf(stderr, "ktx-verify: assign failed\n");
        goto out;
    }
    while (eofs < partitions && now_ms() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (msg->partition >= 0 && msg->partition < partitions && !eof[msg->partition]) {
                eof[msg->partition] = true;
                eofs++;
            }
        } else if (msg->err) {
            fprintf(stderr, "ktx-verify: consumer: %s\n", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            goto out;
        } else {
            account(v, msg);
        }
        rd_kafka_message_destroy(msg);
    }
    if (eofs < partitions)
        fprintf(stderr, "ktx-verify: %d of %d partitions read to their end within %d ms\n",
                eofs, partitions, v->timeout_ms);
    else
        rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* Reads the topic; returns 0, or -1 when it could not be read completely. */
static int read_topic(struct verify *v)
{
    rd_kafka_t *rk = new_consumer(v);
    int rc = -1;
    if (!rk)
        return -1;
    int partitions = partition_count(rk, v->topic, v->timeout_ms);
    if (partitions > 0 && partitions <= MAX_PARTITIONS)
        rc = consume_all(v, rk, partitions);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: ktx-verify -b BOOTSTRAP -t TOPIC -n RECORDS_IN [--input FILE] "
                    "[--timeout-ms MS]\n");
    exit(2);
}

static void parse_args(struct verify *v, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (i + 1 >= argc)
            usage();
        if (!strcmp(a, "-b"))
            v->bootstrap = argv[++i];
        else if (!strcmp(a, "-t"))
            v->topic = argv[++i];
        else if (!strcmp(a, "-n"))
            v->records_in = strtol(argv[++i], &end, 10);
        else if (!strcmp(a, "--input"))
            v->input = argv[++i];
        else if (!strcmp(a, "--timeout-ms"))
            v->timeout_ms = (int)strtol(argv[++i], &end, 10);
        else
            usage();
        if (end && *end)
            usage();
    }
    if (!v->bootstrap || !v->topic || v->records_in < 0 || v->records_in > MAX_RECORDS_IN ||
        v->timeout_ms <= 0)
        usage();
}

int main(int argc, char **argv)
{
    struct verify v = {.records_in = -1, .timeout_ms = 120000};
    int64_t committed = 0;
    int rc = 3;
    parse_args(&v, argc, argv);
    v.seen = calloc((size_t)v.records_in + 1, 1);
    if (v.seen && (!v.input || load_input(&v) == 0) && read_topic(&v) == 0) {
        for (long k = 0; k < v.records_in; k++)
            committed += v.seen[k] > 0;
        int64_t missing = v.records_in - committed;
        printf("records_in=%ld committed=%" PRId64 " duplicates=%" PRId64 " missing=%" PRId64
               " unexpected=%" PRId64 " mismatched=%" PRId64 " read=%" PRId64 "\n",
               v.records_in, committed, v.duplicates, missing, v.unexpected, v.mismatched,
               v.read);
        rc = missing == 0 && v.duplicates == 0 && v.unexpected == 0 && v.mismatched == 0 ? 0 : 1;
    }
    for (long k = 0; v.lines && k < v.records_in; k++)
        free(v.lines[k]);
    free(v.lines);
    free(v.line_lens);
    free(v.seen);
    return rc;
}
