/*
 * ktx-pipe: copies lines of input into a Kafka topic exactly once, surviving SIGKILL.
 *
 *   ktx-pipe -b BOOTSTRAP -t TOPIC --transactional-id ID [--txn-records N]
 *            [-X name=value]... [-v] [FILE]
 *
 * Each input line is one record: its key is the record number (the 0-based line number, in
 * decimal), its value the line without its newline. Records go out in transactions of N
 * records; each transaction also commits the input position reached by its last record
 * (ktx_send_offsets_to_transaction(): group = the transactional id, offset = number of
 * input records consumed, on partition 0 of TOPIC), so the records and the position become
 * visible together or not at all.
 *
 * Restarted with the same arguments after a crash, ktx-pipe fences the previous instance
 * (ktx_init_transactions(), which also waits for that instance's last transaction to be
 * completed), reads the committed position with OffsetFetch(require_stable) and skips that
 * many input records: every record is written once, none is lost. An abortable error aborts
 * the transaction and sends the same records again (they are kept until committed); a fatal
 * one ends the process with status 1, for a supervisor to restart it. SIGINT/SIGTERM stop
 * it after the transaction in progress; a second one kills it at once. Progress goes to
 * stderr; the last line is "ktx-pipe: done records=... transactions=... resumed_at=...".
 *
 * Exit status: 0 done (or stopped by a signal), 1 error, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafkatx.h"
#include "pipe-position.h"

#define CALL_TIMEOUT_MS 30000    /* one blocking transactional call */
#define CALL_ATTEMPTS 10         /* retriable answers of one call before giving up */
#define MAX_ABORTS 20            /* consecutive aborted attempts of one transaction */
#define POSITION_TIMEOUT_MS 60000
#define MAX_TXN_RECORDS 1000000
#define MAX_CONF 64

/* What to do after a call returned. */
enum outcome { OK, RETRY, ABORT, FATAL };

/* One input line kept until its transaction commits. */
struct line {
    char *text;
    size_t len;
};

struct pipe {
    const char *bootstrap;
    const char *topic;
    const char *txn_id;
    long txn_records;
    const char *conf[MAX_CONF]; /* "name=value" from -X */
    bool verbose;               /* -v: the producer's log lines go to stderr */
    int conf_count;
    FILE *in;
    ktx_producer_t *producer;
    int64_t committed;          /* input records consumed by committed transactions */
    int64_t resumed_at;
    int64_t transactions;
    int64_t aborts;
    struct line *lines;         /* the current transaction's records */
    size_t count;
    bool eof;
    double t0;
    double last_progress;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Sorts |err| (owned; destroyed here) into what the caller does next, printing it when it is
 * an error. |what| names the call for the message.
 */
static enum outcome classify(ktx_error_t *err, const char *what)
{
    enum outcome out = OK;
    if (!err)
        return OK;
    if (ktx_error_is_fatal(err))
        out = FATAL;
    else if (ktx_error_txn_requires_abort(err))
        out = ABORT;
    else if (ktx_error_is_retriable(err))
        out = RETRY;
    else
        out = FATAL; /* _STATE, _INVALID_ARG...: a bug or a bad argument; stop */
    fprintf(stderr, "ktx-pipe: %s: %s: %s (%s)\n", what, ktx_error_name(err),
            ktx_error_message(err),
            out == FATAL ? "fatal" : out == ABORT ? "abortable" : "retriable");
    ktx_error_destroy(err);
    return out;
}

/* Log callback of -v: one line per producer log line. Thread: any (stdio locks). */
static void log_line(int level, const char *facility, const char *message, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "ktx-pipe: log %d %s: %s\n", level, facility, message);
}

/* Builds the producer: bootstrap, transactional id, then the -X properties. */
static int producer_create(struct pipe *pipe)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err = NULL;
    if (!conf)
        return -1;
    if (!(err = ktx_conf_set(conf, "bootstrap.servers", pipe->bootstrap)) &&
        !(err = ktx_conf_set(conf, "transactional.id", pipe->txn_id)) &&
        !(err = ktx_conf_set(conf, "client.id", "ktx-pipe")))
        for (int i = 0; i < pipe->conf_count && !err; i++) {
            char name[256];
            const char *eq = strchr(pipe->conf[i], '=');
            size_t n = eq ? (size_t)(eq - pipe->conf[i]) : 0;
            if (!eq || n >= sizeof(name)) {
                fprintf(stderr, "ktx-pipe: -X wants name=value, got '%s'\n", pipe->conf[i]);
                ktx_conf_destroy(conf);
                return -1;
            }
            memcpy(name, pipe->conf[i], n);
            name[n] = '\0';
            err = ktx_conf_set(conf, name, eq + 1);
        }
    if (pipe->verbose)
        ktx_conf_set_log_cb(conf, log_line, NULL);
    if (!err)
        err = ktx_producer_new(&pipe->producer, conf);
    if (err) {
        fprintf(stderr, "ktx-pipe: configuration: %s: %s\n", ktx_error_name(err),
                ktx_error_message(err));
        ktx_error_destroy(err);
        ktx_conf_destroy(conf);
        return -1;
    }
    return 0;
}

/* Fences the previous instance and registers this one (retrying timeouts: resumable). */
static int init_transactions(struct pipe *pipe)
{
    enum outcome out = RETRY;
    for (int i = 0; i < CALL_ATTEMPTS && out == RETRY; i++)
        out = classify(ktx_init_transactions(pipe->producer, CALL_TIMEOUT_MS),
                       "init transactions");
    return out == OK ? 0 : -1;
}

/* Reads the next input line into |*line| (newline stripped). Returns 1, 0 at EOF, -1. */
static int read_line(struct pipe *pipe, struct line *line)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getline(&buf, &cap, pipe->in);
    if (n < 0) {
        free(buf);
        if (ferror(pipe->in)) {
            fprintf(stderr, "ktx-pipe: reading input: %s\n", strerror(errno));
            return -1;
        }
        return 0;
    }
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    line->text = buf;
    line->len = (size_t)n;
    return 1;
}

/* Skips the |pipe->committed| input records that earlier runs committed. */
static int skip_committed(struct pipe *pipe)
{
    struct line line;
    for (int64_t i = 0; i < pipe->committed; i++) {
        int rc = read_line(pipe, &line);
        if (rc <= 0) {
            if (rc == 0)
                fprintf(stderr,
                        "ktx-pipe: the committed position (%" PRId64 " records) is past the "
                        "end of the input (%" PRId64 " records): not the same input?\n",
                        pipe->committed, i);
            return -1;
        }
        free(line.text);
    }
    return 0;
}

/* Tops the current transaction up to txn_records lines (after a rewind it is full). */
static int fill(struct pipe *pipe)
{
    while (!pipe->eof && pipe->count < (size_t)pipe->txn_records) {
        int rc = read_line(pipe, &pipe->lines[pipe->count]);
        if (rc < 0)
            return -1;
        if (rc == 0)
            pipe->eof = true;
        else
            pipe->count++;
    }
    return 0;
}

static void drop_lines(struct pipe *pipe)
{
    for (size_t i = 0; i < pipe->count; i++)
        free(pipe->lines[i].text);
    pipe->count = 0;
}

/* Sends record |i| of the current transaction: key = its record number, value = the line. */
static enum outcome send_one(struct pipe *pipe, size_t i)
{
    char key[24];
    ktx_record_t rec = {0};
    enum outcome out = RETRY;
    int key_len = snprintf(key, sizeof(key), "%" PRId64, pipe->committed + (int64_t)i);
    rec.topic = pipe->topic;
    rec.partition = KTX_PARTITION_ANY;
    rec.key = key;
    rec.key_len = (size_t)key_len;
    rec.value = pipe->lines[i].text;
    rec.value_len = pipe->lines[i].len;
    for (int attempt = 0; attempt < CALL_ATTEMPTS && out == RETRY; attempt++) {
        out = classify(ktx_send(pipe->producer, &rec), "send");
        ktx_poll(pipe->producer, 0);
    }
    return out;
}

/* Adds the position after the current transaction's last record to the transaction. */
static enum outcome send_position(struct pipe *pipe)
{
    ktx_offset_t pos = {pipe->topic, 0, pipe->committed + (int64_t)pipe->count, NULL};
    ktx_offsets_t offsets = {&pos, 1};
    ktx_group_metadata_t group = {pipe->txn_id, -1, "", NULL};
    enum outcome out = RETRY;
    for (int i = 0; i < CALL_ATTEMPTS && out == RETRY; i++)
        out = classify(ktx_send_offsets_to_transaction(pipe->producer, &offsets, &group,
                                                       CALL_TIMEOUT_MS),
                       "send offsets");
    return out;
}

/* One attempt at the current transaction: begin, records, position, commit. */
static enum outcome run_transaction(struct pipe *pipe)
{
    enum outcome out = classify(ktx_begin_transaction(pipe->producer), "begin transaction");
    for (size_t i = 0; i < pipe->count && out == OK; i++)
        out = send_one(pipe, i);
    if (out == OK)
        out = send_position(pipe);
    if (out == OK) {
        out = RETRY;
        for (int i = 0; i < CALL_ATTEMPTS && out == RETRY; i++)
            out = classify(ktx_commit_transaction(pipe->producer, CALL_TIMEOUT_MS), "commit");
    }
    return out == RETRY ? FATAL : out; /* retries ran out: let a restart sort it out */
}

/* Aborts the current transaction; its records stay buffered for the next attempt. */
static int abort_transaction(struct pipe *pipe)
{
    enum outcome out = RETRY;
    pipe->aborts++;
    for (int i = 0; i < CALL_ATTEMPTS && out == RETRY; i++)
        out = classify(ktx_abort_transaction(pipe->producer, CALL_TIMEOUT_MS), "abort");
    if (out != OK)
        return -1;
    fprintf(stderr, "ktx-pipe: aborted; rewinding to record %" PRId64 "\n", pipe->committed);
    return 0;
}

static void progress(struct pipe *pipe, bool force)
{
    double now = now_s();
    if (!force && now - pipe->last_progress < 1.0)
        return;
    pipe->last_progress = now;
    double secs = now - pipe->t0;
    fprintf(stderr,
            "ktx-pipe: committed %" PRId64 " records in %" PRId64 " transactions "
            "(%.0f records/s this run)\n",
            pipe->committed, pipe->transactions,
            secs > 0 ? (double)(pipe->committed - pipe->resumed_at) / secs : 0.0);
}

/* The main loop: one transaction per txn_records input records until EOF or a signal. */
static int pump(struct pipe *pipe)
{
    int aborts_in_a_row = 0;
    for (;;) {
        if (fill(pipe) != 0)
            return -1;
        if (pipe->count == 0 || stop_requested)
            return 0;
        enum outcome out = run_transaction(pipe);
        if (out == FATAL)
            return -1;
        if (out == ABORT) {
            if (++aborts_in_a_row > MAX_ABORTS || abort_transaction(pipe) != 0)
                return -1;
            continue;
        }
        aborts_in_a_row = 0;
        pipe->committed += (int64_t)pipe->count;
        pipe->transactions++;
        drop_lines(pipe);
        progress(pipe, false);
    }
}

static int resume(struct pipe *pipe)
{
    char why[256];
    int64_t offset;
    if (pipe_position_fetch(pipe->bootstrap, pipe->txn_id, pipe->topic, 0, POSITION_TIMEOUT_MS,
                            &offset, why, sizeof(why)) != 0) {
        fprintf(stderr, "ktx-pipe: %s\n", why);
        return -1;
    }
    pipe->committed = offset < 0 ? 0 : offset;
    pipe->resumed_at = pipe->committed;
    fprintf(stderr, "ktx-pipe: transactional id '%s': resuming after %" PRId64 " committed "
                    "records\n", pipe->txn_id, pipe->committed);
    return skip_committed(pipe);
}

static int run(struct pipe *pipe)
{
    int rc = -1;
    pipe->lines = calloc((size_t)pipe->txn_records, sizeof(*pipe->lines));
    if (!pipe->lines || producer_create(pipe) != 0)
        goto out;
    pipe->t0 = now_s();
    if (init_transactions(pipe) != 0 || resume(pipe) != 0 || pump(pipe) != 0)
        goto out;
    progress(pipe, true);
    rc = classify(ktx_close(pipe->producer, CALL_TIMEOUT_MS), "close") == OK ? 0 : -1;
    fprintf(stderr, "ktx-pipe: %s records=%" PRId64 " transactions=%" PRId64 " aborts=%" PRId64
                    " resumed_at=%" PRId64 " seconds=%.2f\n",
            stop_requested ? "stopped" : "done", pipe->committed, pipe->transactions,
            pipe->aborts, pipe->resumed_at, now_s() - pipe->t0);
out:
    ktx_producer_destroy(pipe->producer);
    drop_lines(pipe);
    free(pipe->lines);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: ktx-pipe -b BOOTSTRAP -t TOPIC --transactional-id ID "
                    "[--txn-records N] [-X name=value]... [-v] [FILE]\n");
    exit(2);
}

/* Parses the command line into |pipe|; exits with status 2 on a bad one. */
static void parse_args(struct pipe *pipe, int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if ((!strcmp(a, "-b") || !strcmp(a, "--bootstrap")) && has_value)
            pipe->bootstrap = argv[++i];
        else if ((!strcmp(a, "-t") || !strcmp(a, "--topic")) && has_value)
            pipe->topic = argv[++i];
        else if ((!strcmp(a, "-T") || !strcmp(a, "--transactional-id")) && has_value)
            pipe->txn_id = argv[++i];
        else if ((!strcmp(a, "-n") || !strcmp(a, "--txn-records")) && has_value) {
            char *end;
            pipe->txn_records = strtol(argv[++i], &end, 10);
            if (*end || pipe->txn_records < 1 || pipe->txn_records > MAX_TXN_RECORDS)
                usage();
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            pipe->verbose = true;
        else if (!strcmp(a, "-X") && has_value && pipe->conf_count < MAX_CONF)
            pipe->conf[pipe->conf_count++] = argv[++i];
        else if (a[0] != '-' && !file)
            file = a;
        else
            usage();
    }
    if (!pipe->bootstrap || !pipe->topic || !pipe->txn_id)
        usage();
    pipe->in = file ? fopen(file, "r") : stdin;
    if (!pipe->in) {
        fprintf(stderr, "ktx-pipe: %s: %s\n", file, strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct pipe pipe = {.txn_records = 1000};
    struct sigaction sa = {0};
    parse_args(&pipe, argc, argv);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal ends the process at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = run(&pipe);
    if (pipe.in != stdin)
        fclose(pipe.in);
    return rc == 0 ? 0 : 1;
}
