/*
 * perf-common: option parsing, payload, latency histogram, timed window and the result
 * line shared by ktx-perf and rdkafka-perf. See perf-common.h.
 */
#include "perf-common.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Records per transaction when --txn-records is not given. */
#define DEFAULT_TXN_RECORDS 10000

static void usage(const char *prog)
{
    printf("usage: %s -b BOOTSTRAP -t TOPIC -n RECORDS -s SIZE\n"
           "          [--mode plain|idempotent|transactional] [--txn-records N]\n"
           "          [-z none|zstd] [-k] [-p PARTITIONS] [--poll-every N] [-q] [-v]\n"
           "          [-X property=value ...]\n"
           "  -b  bootstrap servers (host:port,...)\n"
           "  -t  topic (must exist, or be auto-created by the cluster)\n"
           "  -n  records to produce in the timed window\n"
           "  -s  value size in bytes (random upper-case letters, generated once)\n"
           "  --mode  plain (no idempotence), idempotent (default) or transactional\n"
           "  --txn-records  records per transaction in transactional mode (default %d)\n"
           "  -z  compression codec, none (default) or zstd\n"
           "  -k  give every record a 16-byte decimal key (murmur2 partitioning)\n"
           "  -p  warm-up: send one record to each partition 0..PARTITIONS-1 before the\n"
           "      timed window (default: one record to any partition)\n"
           "  --poll-every  serve delivery reports (poll 0) after every N sends (default 1)\n"
           "  -q  print only the result line\n"
           "  -v  print the client's log on stderr (librdkafka: debug=eos)\n"
           "  -X  a client property, applied after the defaults (acks=all, linger.ms=5)\n"
           "The last line printed is the machine-readable result (key=value pairs).\n",
           prog, DEFAULT_TXN_RECORDS);
}

void perf_warn(const char *prog, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Parses a whole decimal number into |*out| within [min, max]; returns false otherwise. */
static bool parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return false;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_mode(const char *s, enum perf_mode *out)
{
    if (strcmp(s, "plain") == 0)
        *out = PERF_MODE_PLAIN;
    else if (strcmp(s, "idempotent") == 0)
        *out = PERF_MODE_IDEMPOTENT;
    else if (strcmp(s, "transactional") == 0)
        *out = PERF_MODE_TRANSACTIONAL;
    else
        return false;
    return true;
}

/* Splits |arg| ("name=value") into a copied pair appended to |opts|. */
static bool add_prop(struct perf_opts *opts, const char *arg)
{
    const char *eq = strchr(arg, '=');
    struct perf_prop *prop;

    if (eq == NULL || eq == arg || opts->n_props == PERF_MAX_PROPS)
        return false;
    prop = &opts->props[opts->n_props];
    prop->name = strndup(arg, (size_t)(eq - arg));
    prop->value = strdup(eq + 1);
    if (prop->name == NULL || prop->value == NULL) {
        free(prop->name);
        free(prop->value);
        return false;
    }
    opts->n_props++;
    return true;
}

/* Applies one parsed option |c| with argument |arg|; returns false when it is invalid. */
static bool apply_opt(struct perf_opts *opts, int c, const char *arg)
{
    long long v = 0;

    switch (c) {
    case 'b': opts->bootstrap = arg; return true;
    case 't': opts->topic = arg; return true;
    case 'n': return parse_ll(arg, 1, INT64_MAX / 2, &opts->records);
    case 's':
        if (!parse_ll(arg, 0, 64 * 1024 * 1024, &v))
            return false;
        opts->size = (size_t)v;
        return true;
    case 'm': return parse_mode(arg, &opts->mode);
    case 'T': return parse_ll(arg, 1, INT64_MAX / 2, &opts->txn_records);
    case 'z':
        opts->compression = arg;
        return strcmp(arg, "none") == 0 || strcmp(arg, "zstd") == 0;
    case 'k': opts->keyed = true; return true;
    case 'p':
        if (!parse_ll(arg, 0, 100000, &v))
            return false;
        opts->warmup_partitions = (int)v;
        return true;
    case 'P':
        if (!parse_ll(arg, 1, 1000000, &v))
            return false;
        opts->poll_every = (int)v;
        return true;
    case 'q': opts->quiet = true; return true;
    case 'v': opts->verbose = true; return true;
    case 'X': return add_prop(opts, arg);
    default: return false;
    }
}

int perf_opts_parse(int argc, char **argv, struct perf_opts *opts, const char *prog)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"txn-records", required_argument, NULL, 'T'},
        {"poll-every", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(opts, 0, sizeof(*opts));
    opts->mode = PERF_MODE_IDEMPOTENT;
    opts->txn_records = DEFAULT_TXN_RECORDS;
    opts->compression = "none";
    opts->poll_every = 1;
    optind = 0; /* 0, not 1: glibc and musl then also reset their scan state */
    while ((c = getopt_long(argc, argv, "b:t:n:s:z:kp:qvX:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(prog);
            return 1;
        }
        if (!apply_opt(opts, c, optarg)) {
            if (c != '?')
                perf_warn(prog, "bad value for option -%c: %s", c, optarg ? optarg : "");
            perf_warn(prog, "run %s -h for the usage", prog);
            return 2;
        }
    }
    if (optind != argc || opts->bootstrap == NULL || opts->topic == NULL || opts->records == 0) {
        perf_warn(prog, "-b, -t and -n are required (and nothing else may follow the options); "
                        "run %s -h for the usage", prog);
        return 2;
    }
    return 0;
}

void perf_opts_free(struct perf_opts *opts)
{
    if (opts == NULL)
        return;
    for (int i = 0; i < opts->n_props; i++) {
        free(opts->props[i].name);
        free(opts->props[i].value);
    }
    opts->n_props = 0;
}

const char *perf_mode_name(enum perf_mode mode)
{
    switch (mode) {
    case PERF_MODE_PLAIN: return "plain";
    case PERF_MODE_TRANSACTIONAL: return "transactional";
    default: return "idempotent";
    }
}

char *perf_payload_new(size_t size)
{
    char *payload = malloc(size ? size : 1);
    uint64_t x = 0x9e3779b97f4a7c15ull; /* fixed seed: identical bytes in both tools */

    if (payload == NULL)
        return NULL;
    for (size_t i = 0; i < size; i++) {
        /* xorshift64: cheap and good enough to defeat trivial compression. */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        payload[i] = (char)('A' + (x % 26));
    }
    return payload;
}

void perf_key_format(char key[16], uint64_t seq)
{
    for (int i = 15; i >= 0; i--) {
        key[i] = (char)('0' + seq % 10);
        seq /= 10;
    }
}

uint64_t perf_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Returns the bucket of |v|: see the comment of struct perf_hist. */
static unsigned hist_index(uint64_t v)
{
    unsigned msb;

    if (v < PERF_HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    return (msb - 6u) * PERF_HIST_SUB + (unsigned)(v >> (msb - 6u));
}

/* Returns the middle of bucket |index|. */
static uint64_t hist_value(unsigned index)
{
    unsigned shift;
    uint64_t low;

    if (index < 2 * PERF_HIST_SUB)
        return index;
    shift = index / PERF_HIST_SUB - 1u;
    low = (uint64_t)(index % PERF_HIST_SUB + PERF_HIST_SUB) << shift;
    return low + ((1ull << shift) >> 1);
}

void perf_hist_record(struct perf_hist *hist, uint64_t ns)
{
    hist->buckets[hist_index(ns)]++;
    hist->count++;
    hist->sum += ns;
    if (ns > hist->max)
        hist->max = ns;
}

uint64_t perf_hist_percentile(const struct perf_hist *hist, double pct)
{
    uint64_t rank, seen = 0;

    if (hist->count == 0)
        return 0;
    rank = (uint64_t)(pct / 100.0 * (double)hist->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank >= hist->count)
        return hist->max; /* the largest value is kept exactly */
    for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++) {
        seen += hist->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < hist->max ? v : hist->max;
        }
    }
    return hist->max;
}

void perf_run_init(struct perf_run *run, const struct perf_opts *opts, const char *client)
{
    memset(run, 0, sizeof(*run));
    run->opts = opts;
    run->client = client;
    run->batches = -1;
    run->requests = -1;
}

void perf_window_begin(struct perf_run *run)
{
    getrusage(RUSAGE_SELF, &run->ru_start);
    run->t_start_ns = perf_now_ns();
    run->in_window = true;
}

void perf_window_end(struct perf_run *run)
{
    run->t_end_ns = perf_now_ns();
    getrusage(RUSAGE_SELF, &run->ru_end);
    run->in_window = false;
}

void perf_on_delivery(struct perf_run *run, uint64_t sent_ns, const char *error)
{
    if (!run->in_window)
        return;
    if (error != NULL) {
        if (run->failed++ == 0)
            snprintf(run->first_error, sizeof(run->first_error), "%s", error);
        return;
    }
    run->delivered++;
    perf_hist_record(&run->latency, perf_now_ns() - sent_ns);
}

void perf_on_commit(struct perf_run *run, uint64_t began_ns)
{
    perf_hist_record(&run->commit, perf_now_ns() - began_ns);
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The figures derived from a finished run. */
struct perf_figures {
    double elapsed_s;
    double records_per_s;
    double mb_per_s;
    double user_s;
    double sys_s;
    double cpu_us_per_record;
};

static void figures(const struct perf_run *run, struct perf_figures *f)
{
    double n = (double)run->opts->records;

    f->elapsed_s = (double)(run->t_end_ns - run->t_start_ns) / 1e9;
    if (f->elapsed_s <= 0)
        f->elapsed_s = 1e-9;
    f->records_per_s = n / f->elapsed_s;
    f->mb_per_s = n * (double)run->opts->size / 1e6 / f->elapsed_s;
    f->user_s = tv_seconds(&run->ru_end.ru_utime) - tv_seconds(&run->ru_start.ru_utime);
    f->sys_s = tv_seconds(&run->ru_end.ru_stime) - tv_seconds(&run->ru_start.ru_stime);
    f->cpu_us_per_record = (f->user_s + f->sys_s) * 1e6 / n;
}

static void print_summary(const struct perf_run *run, const struct perf_figures *f, FILE *out,
                          const char *note)
{
    const struct perf_hist *lat = &run->latency, *com = &run->commit;

    fprintf(out, "%s %s: %lld records of %zu bytes in %.3f s (%llu delivered, %llu failed)\n",
            run->client, perf_mode_name(run->opts->mode), run->opts->records, run->opts->size,
            f->elapsed_s, (unsigned long long)run->delivered, (unsigned long long)run->failed);
    if (run->failed > 0)
        fprintf(out, "  first error  %s\n", run->first_error);
    fprintf(out, "  throughput   %.0f records/s, %.2f MB/s\n", f->records_per_s, f->mb_per_s);
    fprintf(out, "  latency ms   p50 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
            ms(perf_hist_percentile(lat, 50)), ms(perf_hist_percentile(lat, 95)),
            ms(perf_hist_percentile(lat, 99)), ms(perf_hist_percentile(lat, 99.9)), ms(lat->max));
    fprintf(out, "  cpu          %.3f us/record (user %.3f s, sys %.3f s)\n",
            f->cpu_us_per_record, f->user_s, f->sys_s);
    if (run->batches >= 0 && run->requests > 0)
        fprintf(out, "  batching     %.2f batches per Produce request (%lld batches, %lld requests)\n",
                (double)run->batches / (double)run->requests, run->batches, run->requests);
    if (run->opts->mode == PERF_MODE_TRANSACTIONAL)
        fprintf(out, "  commits      %llu: p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
                (unsigned long long)com->count, ms(perf_hist_percentile(com, 50)),
                ms(perf_hist_percentile(com, 99)), ms(com->max));
    if (note != NULL)
        fprintf(out, "  note         %s\n", note);
}

static void print_line(const struct perf_run *run, const struct perf_figures *f, FILE *out)
{
    const struct perf_hist *lat = &run->latency, *com = &run->commit;

    fprintf(out, "client=%s mode=%s records=%lld size=%zu compression=%s delivered=%llu failed=%llu "
                 "elapsed_s=%.3f records_per_s=%.0f mb_per_s=%.2f cpu_us_per_record=%.3f "
                 "p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f",
            run->client, perf_mode_name(run->opts->mode), run->opts->records, run->opts->size,
            run->opts->compression, (unsigned long long)run->delivered,
            (unsigned long long)run->failed, f->elapsed_s, f->records_per_s, f->mb_per_s,
            f->cpu_us_per_record, ms(perf_hist_percentile(lat, 50)),
            ms(perf_hist_percentile(lat, 95)), ms(perf_hist_percentile(lat, 99)),
            ms(perf_hist_percentile(lat, 99.9)), ms(lat->max));
    if (run->batches >= 0 && run->requests > 0)
        fprintf(out, " batches_per_request=%.2f", (double)run->batches / (double)run->requests);
    if (run->opts->mode == PERF_MODE_TRANSACTIONAL)
        fprintf(out, " commits=%llu commit_p50_ms=%.3f commit_p99_ms=%.3f commit_max_ms=%.3f",
                (unsigned long long)com->count, ms(perf_hist_percentile(com, 50)),
                ms(perf_hist_percentile(com, 99)), ms(com->max));
    fputc('\n', out);
}

void perf_report(const struct perf_run *run, FILE *out, const char *note)
{
    struct perf_figures f;

    figures(run, &f);
    if (!run->opts->quiet)
        print_summary(run, &f, out, note);
    print_line(run, &f, out);
    fflush(out);
}
