/*
 * perf-common: the measurement code shared by ktx-perf (kafkatx) and rdkafka-perf
 * (librdkafka), so that both programs take the same options, count the same things the same
 * way and print the same result line. Only the produce loop differs between the two.
 *
 * What is measured (see docs/benchmarks.md):
 * - the timed window starts just before the first record of the run is handed to the
 *   client and ends when the last delivery report of the run has been served;
 * - records/s and MB/s (payload bytes only, 1 MB = 10^6 bytes) over that window;
 * - produce-to-ack latency per record: the monotonic time taken at send is carried in the
 *   record's opaque and subtracted from the time at which its delivery report is served;
 * - CPU microseconds per record: getrusage(RUSAGE_SELF) user + system of the whole process
 *   (every client thread included) over the window, divided by the records;
 * - in transactional mode, the time each commit call takes.
 *
 * Nothing here touches a client library; the file has no global state.
 */
#ifndef KTX_PERF_COMMON_H
#define KTX_PERF_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

/* The three producer flavours compared. */
enum perf_mode {
    PERF_MODE_PLAIN = 0,     /* enable.idempotence=false */
    PERF_MODE_IDEMPOTENT,    /* enable.idempotence=true (the default) */
    PERF_MODE_TRANSACTIONAL  /* transactional.id set; begin, N records, commit, repeated */
};

/* The most -X properties one run accepts. */
#define PERF_MAX_PROPS 64

/* One -X name=value pair; both strings are owned by the enclosing perf_opts. */
struct perf_prop {
    char *name;
    char *value;
};

/* The command line, parsed. Filled by perf_opts_parse(), released by perf_opts_free(). */
struct perf_opts {
    const char *bootstrap;        /* -b, borrowed from argv */
    const char *topic;            /* -t, borrowed from argv */
    long long records;            /* -n, timed records */
    size_t size;                  /* -s, value bytes per record */
    enum perf_mode mode;          /* --mode */
    long long txn_records;        /* --txn-records: records per transaction */
    const char *compression;      /* -z: "none" or "zstd" */
    bool keyed;                   /* -k: a 16-byte decimal key per record */
    int warmup_partitions;        /* -p: warm-up sends one record to each of 0..p-1 */
    int poll_every;               /* --poll-every: poll(0) after this many sends */
    bool quiet;                   /* -q: only the result line */
    bool verbose;                 /* -v: the client's log (kafkatx) or debug=eos (librdkafka) */
    struct perf_prop props[PERF_MAX_PROPS]; /* -X, applied after the tool's defaults */
    int n_props;
};

/*
 * Latency histogram with bounded memory, in nanoseconds: values below 64 have a bucket
 * each, above that every power of two is split into 64 buckets, so a percentile read back
 * is within 1/64 (1.6 %) of the recorded value. The maximum is kept exactly.
 */
#define PERF_HIST_SUB 64
#define PERF_HIST_BUCKETS ((64 - 6 + 1) * PERF_HIST_SUB)
struct perf_hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t buckets[PERF_HIST_BUCKETS];
};

/* The state of one run: counters, histograms and the window. Zeroed by perf_run_init(). */
struct perf_run {
    const struct perf_opts *opts; /* borrowed */
    const char *client;           /* "kafkatx" or "librdkafka", static */
    struct perf_hist latency;     /* produce -> delivery report */
    struct perf_hist commit;      /* commit call duration (transactional mode) */
    uint64_t delivered;           /* delivery reports without error, warm-up excluded */
    uint64_t failed;              /* delivery reports with an error */
    char first_error[256];        /* the first delivery error, "" when none */
    uint64_t t_start_ns;
    uint64_t t_end_ns;
    struct rusage ru_start;
    struct rusage ru_end;
    long long batches;            /* record batches produced, -1 when the client cannot say */
    long long requests;           /* Produce requests sent, -1 when the client cannot say */
    bool in_window;               /* reports outside the window (warm-up) are not counted */
};

/*
 * Parses |argv| into |*opts| (zeroed first). |prog| names the program in the usage text.
 * Copies each -X pair; release them with perf_opts_free().
 * Returns 0, 1 after printing the usage on stdout for -h, or 2 after printing the problem
 * on stderr.
 */
int perf_opts_parse(int argc, char **argv, struct perf_opts *opts, const char *prog);

/* Frees the copies held by |opts| (not |opts| itself). NULL-safe. */
void perf_opts_free(struct perf_opts *opts);

/* Returns "plain", "idempotent" or "transactional". The string is static. */
const char *perf_mode_name(enum perf_mode mode);

/*
 * Returns a malloc'ed payload of |size| bytes of random upper-case letters (the same bytes
 * in every run and in both tools: a fixed seed), as Kafka's producer-perf-test sends, so that
 * compression sees the same data. Returns NULL when out of memory (or size 0 with malloc
 * returning NULL, which the caller treats as "no payload").
 */
char *perf_payload_new(size_t size);

/* Writes the 16-byte decimal key of record |seq| (zero-padded, no NUL) into |key|. */
void perf_key_format(char key[16], uint64_t seq);

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t perf_now_ns(void);

/* Adds |ns| to |hist|. */
void perf_hist_record(struct perf_hist *hist, uint64_t ns);

/*
 * Returns the value at percentile |pct| (0 < pct <= 100) of |hist| in nanoseconds: the
 * middle of the bucket holding the ceil(pct/100 * count)-th smallest value, capped by the
 * exact maximum (which is what the largest rank reads). Returns 0 for an empty histogram.
 */
uint64_t perf_hist_percentile(const struct perf_hist *hist, double pct);

/* Zeroes |run| and ties it to |opts| (borrowed) and |client| (a static string). */
void perf_run_init(struct perf_run *run, const struct perf_opts *opts, const char *client);

/* Opens the timed window: takes the start time and resource usage. */
void perf_window_begin(struct perf_run *run);

/* Closes the timed window. Call once every delivery report of the run has been served. */
void perf_window_end(struct perf_run *run);

/*
 * Accounts one delivery report of a record sent at |sent_ns| (perf_now_ns()). |error| is
 * NULL when the record was delivered, else a short description (copied when it is the
 * first). Reports served outside the window are ignored.
 */
void perf_on_delivery(struct perf_run *run, uint64_t sent_ns, const char *error);

/* Accounts one commit call that began at |began_ns| and has just returned. */
void perf_on_commit(struct perf_run *run, uint64_t began_ns);

/*
 * Prints the human-readable summary (unless opts->quiet) and then the one machine-readable
 * line of key=value pairs, beginning with "client=", on |out|. |note| is printed with the
 * summary when not NULL (e.g. why a figure is missing).
 */
void perf_report(const struct perf_run *run, FILE *out, const char *note);

/* Prints "prog: message\n" on stderr, printf-style. */
void perf_warn(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* KTX_PERF_COMMON_H */
