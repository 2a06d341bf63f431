/*
 * The state store on SQLite (see store.h and docs/state-store.md). This is the only file
 * that includes sqlite3.h.
 *
 * Layout: the schema and its migrations; errors and the failed state; opening; the write
 * path (one SQLite transaction per store transaction, or per call outside one); then one
 * short function per record type.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "store.h"

/* ---- Schema and migrations. ---- */

/*
 * Migration N takes a file from schema version N-1 to N. They run in one SQLite transaction
 * on open; a failure rolls all of them back. Version 1 is the first released schema (kept
 * so that the committed tests/fixtures/state-v1.db is migrated like a user's file).
 */
static const char *const migrations[KTX__STORE_SCHEMA_VERSION + 1] = {
    NULL,
    /* v1: producer identity and the next sequence per partition. */
    "CREATE TABLE schema_version(version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL);"
    "CREATE TABLE producer(identity TEXT PRIMARY KEY,"
    " producer_id INTEGER NOT NULL DEFAULT -1, producer_epoch INTEGER NOT NULL DEFAULT -1,"
    " transactional_id TEXT, updated_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sequence(identity TEXT NOT NULL, topic TEXT NOT NULL,"
    " partition_index INTEGER NOT NULL, next_sequence INTEGER NOT NULL,"
    " PRIMARY KEY(identity, topic, partition_index));",
    /* v2: the last transaction, sequences tied to their producer id and epoch, the journal
     * and the checkpoint. Sequences of v1 belong to the producer id of their identity. */
    "ALTER TABLE producer ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;"
    "UPDATE producer SET created_ms = updated_ms;"
    "ALTER TABLE producer ADD COLUMN txn_state INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE producer ADD COLUMN txn_updated_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sequence ADD COLUMN producer_id INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE sequence ADD COLUMN producer_epoch INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE sequence ADD COLUMN last_acked_sequence INTEGER NOT NULL DEFAULT -1;"
    "UPDATE sequence SET"
    " producer_id = coalesce((SELECT p.producer_id FROM producer p"
    "  WHERE p.identity = sequence.identity), -1),"
    " producer_epoch = coalesce((SELECT p.producer_epoch FROM producer p"
    "  WHERE p.identity = sequence.identity), -1);"
    "CREATE TABLE txn_partition(identity TEXT NOT NULL, topic TEXT NOT NULL,"
    " partition_index INTEGER NOT NULL, PRIMARY KEY(identity, topic, partition_index));"
    "CREATE TABLE txn_group(identity TEXT NOT NULL, group_id TEXT NOT NULL,"
    " PRIMARY KEY(identity, group_id));"
    "CREATE TABLE journal(seq INTEGER PRIMARY KEY AUTOINCREMENT, identity TEXT NOT NULL,"
    " topic TEXT NOT NULL, partition_index INTEGER NOT NULL, producer_id INTEGER NOT NULL,"
    " producer_epoch INTEGER NOT NULL, base_sequence INTEGER NOT NULL,"
    " record_count INTEGER NOT NULL, bytes BLOB NOT NULL, appended_ms INTEGER NOT NULL);"
    "CREATE INDEX journal_tp ON journal(identity, topic, partition_index);"
    "CREATE TABLE checkpoint(identity TEXT PRIMARY KEY, data BLOB NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
};

/* Prepared statements, prepared on first use. Parameter 1 is always the identity. */
enum stmt_id {
    ST_PRODUCER_ENSURE,
    ST_PRODUCER_LOAD,
    ST_PRODUCER_SAVE,
    ST_TXN_STATE_GET,
    ST_TXN_STATE_SET,
    ST_TXN_PART_CLEAR,
    ST_TXN_GROUP_CLEAR,
    ST_TXN_PART_ADD,
    ST_TXN_GROUP_ADD,
    ST_TXN_PART_LIST,
    ST_TXN_GROUP_LIST,
    ST_SEQ_SAVE,
    ST_SEQ_LOAD,
    ST_SEQ_RESET,
    ST_JOURNAL_COUNT,
    ST_JOURNAL_APPEND,
    ST_JOURNAL_ACK,
    ST_JOURNAL_DISCARD_TP,
    ST_JOURNAL_DISCARD_ALL,
    ST_JOURNAL_LOAD,
    ST_CKPT_SET,
    ST_CKPT_DEL,
    ST_CKPT_GET,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_PRODUCER_ENSURE] = "INSERT OR IGNORE INTO producer(identity, created_ms, updated_ms)"
                           " VALUES(?1, ?2, ?2)",
    [ST_PRODUCER_LOAD] = "SELECT producer_id, producer_epoch, transactional_id, created_ms,"
                         " updated_ms FROM producer WHERE identity = ?1",
    [ST_PRODUCER_SAVE] = "UPDATE producer SET producer_id = ?2, producer_epoch = ?3,"
                         " transactional_id = ?4, updated_ms = ?5 WHERE identity = ?1",
    [ST_TXN_STATE_GET] = "SELECT txn_state, txn_updated_ms FROM producer WHERE identity = ?1",
    [ST_TXN_STATE_SET] = "UPDATE producer SET txn_state = ?2, txn_updated_ms = ?3"
                         " WHERE identity = ?1",
    [ST_TXN_PART_CLEAR] = "DELETE FROM txn_partition WHERE identity = ?1",
    [ST_TXN_GROUP_CLEAR] = "DELETE FROM txn_group WHERE identity = ?1",
    [ST_TXN_PART_ADD] = "INSERT OR IGNORE INTO txn_partition VALUES(?1, ?2, ?3)",
    [ST_TXN_GROUP_ADD] = "INSERT OR IGNORE INTO txn_group VALUES(?1, ?2)",
    [ST_TXN_PART_LIST] = "SELECT topic, partition_index FROM txn_partition WHERE identity = ?1"
                         " ORDER BY topic, partition_index",
    [ST_TXN_GROUP_LIST] = "SELECT group_id FROM txn_group WHERE identity = ?1 ORDER BY group_id",
    [ST_SEQ_SAVE] = "INSERT OR REPLACE INTO sequence(identity, topic, partition_index,"
                    " producer_id, producer_epoch, next_sequence, last_acked_sequence)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_SEQ_LOAD] = "SELECT topic, partition_index, producer_id, producer_epoch, next_sequence,"
                    " last_acked_sequence FROM sequence WHERE identity = ?1"
                    " ORDER BY topic, partition_index",
    [ST_SEQ_RESET] = "DELETE FROM sequence WHERE identity = ?1",
    [ST_JOURNAL_COUNT] = "SELECT count(*) FROM journal WHERE identity = ?1 AND topic = ?2"
                         " AND partition_index = ?3",
    [ST_JOURNAL_APPEND] = "INSERT INTO journal(identity, topic, partition_index, producer_id,"
                          " producer_epoch, base_sequence, record_count, bytes, appended_ms)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_JOURNAL_ACK] = "DELETE FROM journal WHERE identity = ?1 AND topic = ?2"
                       " AND partition_index = ?3 AND producer_id = ?4 AND producer_epoch = ?5"
                       " AND base_sequence = ?6",
    [ST_JOURNAL_DISCARD_TP] = "DELETE FROM journal WHERE identity = ?1 AND topic = ?2"
                              " AND partition_index = ?3",
    [ST_JOURNAL_DISCARD_ALL] = "DELETE FROM journal WHERE identity = ?1",
    [ST_JOURNAL_LOAD] = "SELECT topic, partition_index, producer_id, producer_epoch,"
                        " base_sequence, record_count, bytes, appended_ms FROM journal"
                        " WHERE identity = ?1 ORDER BY seq",
    [ST_CKPT_SET] = "INSERT OR REPLACE INTO checkpoint VALUES(?1, ?2, ?3)",
    [ST_CKPT_DEL] = "DELETE FROM checkpoint WHERE identity = ?1",
    [ST_CKPT_GET] = "SELECT data FROM checkpoint WHERE identity = ?1",
};

/* WAL pages after which a passive checkpoint runs (SQLite's default), on the checkpointer
 * thread; each further WAL_CHECKPOINT_PAGES ask for another. */
#define WAL_CHECKPOINT_PAGES 1000
/* WAL pages after which the commit runs the checkpoint itself: under a steady stream of
 * commits the background checkpoints never catch up with the end of the WAL, and only a
 * checkpoint between two commits lets the next one start the WAL over. */
#define WAL_INLINE_CHECKPOINT_PAGES (10 * WAL_CHECKPOINT_PAGES)

struct ktx__store {
    sqlite3 *db;
    char *path;
    char *identity;
    int lock_fd;
    enum ktx__state_sync sync;
    bool in_txn;   /* a store transaction is open (the caller's view) */
    bool failed;   /* a write failed: writes are refused until reopened */
    struct ktx__store_stats stats;
    sqlite3_stmt *stmts[ST_COUNT];
    char errmsg[512];
    char failmsg[512];
    /* The WAL checkpointer: a thread with its own connection, so that the checkpoints (and
     * their fsyncs) run beside the commits instead of inside them. */
    pthread_t ckpt_thread;
    bool ckpt_started;
    sqlite3 *ckpt_db;
    pthread_mutex_t ckpt_lock;    /* guards the fields below */
    pthread_cond_t ckpt_cond;
    bool ckpt_wanted, ckpt_stop;
    uint64_t ckpt_done;           /* checkpoints the thread ran */
    int ckpt_next_pages;          /* WAL size of the next request (writer only) */
};

/* ---- Small helpers. ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Returns SQLite's name of the primary result code |rc| ("SQLITE_FULL"...). */
static const char *rc_name(int rc)
{
    static const struct {
        int rc;
        const char *name;
    } names[] = {
        {SQLITE_ERROR, "SQLITE_ERROR"},     {SQLITE_PERM, "SQLITE_PERM"},
        {SQLITE_BUSY, "SQLITE_BUSY"},       {SQLITE_LOCKED, "SQLITE_LOCKED"},
        {SQLITE_NOMEM, "SQLITE_NOMEM"},     {SQLITE_READONLY, "SQLITE_READONLY"},
        {SQLITE_IOERR, "SQLITE_IOERR"},     {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
        {SQLITE_FULL, "SQLITE_FULL"},       {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
        {SQLITE_PROTOCOL, "SQLITE_PROTOCOL"}, {SQLITE_SCHEMA, "SQLITE_SCHEMA"},
        {SQLITE_TOOBIG, "SQLITE_TOOBIG"},   {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
        {SQLITE_MISMATCH, "SQLITE_MISMATCH"}, {SQLITE_NOTADB, "SQLITE_NOTADB"},
        {SQLITE_AUTH, "SQLITE_AUTH"},
    };
    for (size_t i = 0; i < KTX__ARRAY_LEN(names); i++)
        if (names[i].rc == (rc & 0xff))
            return names[i].name;
    return "SQLITE_?";
}

/*
 * Formats "<what> failed: <SQLite message> (SQLITE_X, extended code N[, errno text])" for
 * the last error of |db| (which may be NULL) into |buf|.
 */
static void format_sqlite_error(char *buf, size_t len, const char *path, sqlite3 *db,
                                int rc, const char *what)
{
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    int xrc = db != NULL ? sqlite3_extended_errcode(db) : rc;
    int sys = db != NULL ? sqlite3_system_errno(db) : 0;
    if ((xrc & 0xff) != (rc & 0xff)) /* the connection's error is older than |rc| */
        msg = sqlite3_errstr(rc), xrc = rc, sys = 0;
    if (sys != 0 && (rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB)
        snprintf(buf, len, "state file %s: %s failed: %s (%s, extended code %d, %s)", path,
                 what, msg, rc_name(rc), xrc, strerror(sys));
    else
        snprintf(buf, len, "state file %s: %s failed: %s (%s, extended code %d)", path, what,
                 msg, rc_name(rc), xrc);
}

/* Records SQLite's error |rc| during |what| as the store's message; returns KTX_ERR_STORE. */
static int sql_error(struct ktx__store *store, int rc, const char *what)
{
    format_sqlite_error(store->errmsg, sizeof(store->errmsg), store->path, store->db, rc, what);
    return KTX_ERR_STORE;
}

/* Formats a message that is not an SQLite error; returns |code|. */
static int fail_msg(struct ktx__store *store, int code, const char *fmt, ...) KTX__PRINTF(3, 4);
static int fail_msg(struct ktx__store *store, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(store->errmsg, sizeof(store->errmsg), fmt, ap);
    va_end(ap);
    return code;
}

/* Reports a row of |table| that the schema's constraints should have kept out. */
static int corrupt_row(struct ktx__store *store, const char *table)
{
    return fail_msg(store, KTX_ERR_STORE, "state file %s: a row of table %s is corrupt (NULL"
                    " topic or batch)", store->path, table);
}

/* Returns the prepared statement |id| (reset, bindings cleared), or NULL with the message set. */
static sqlite3_stmt *stmt(struct ktx__store *store, enum stmt_id id)
{
    if (store->stmts[id] == NULL) {
        int rc = sqlite3_prepare_v3(store->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &store->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            sql_error(store, rc, "preparing a statement");
            return NULL;
        }
    }
    sqlite3_stmt *st = store->stmts[id];
    sqlite3_bind_text(st, 1, store->identity, -1, SQLITE_STATIC);
    return st;
}

/* Steps |st| to its end, then resets it. Returns 0 or KTX_ERR_STORE (message names |what|). */
static int run_done(struct ktx__store *store, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : sql_error(store, rc, what);
}

/* Ends a read of |st| that stopped with |rc| (SQLITE_DONE, SQLITE_ROW or an error). */
static int read_end(struct ktx__store *store, sqlite3_stmt *st, int rc, const char *what)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sql_error(store, rc, what);
}

/* Returns a malloc'ed copy of column |col| of |st| as text, or NULL when it is NULL. */
static char *column_strdup(sqlite3_stmt *st, int col, bool *oom)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    if (text == NULL)
        return NULL;
    char *copy = strdup((const char *)text);
    if (copy == NULL)
        *oom = true;
    return copy;
}

static bool name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) <= KTX__STORE_MAX_NAME_LEN;
}

/* ---- The write path: transactions, commits, the failed state. ---- */

/* Runs the transaction-control statement |sql|. */
static int exec_ctl(struct ktx__store *store, const char *sql, const char *what)
{
    int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_error(store, rc, what);
}

/* Rolls back SQLite's open transaction, if any (SQLite may already have rolled it back). */
static void rollback_db(struct ktx__store *store)
{
    if (!sqlite3_get_autocommit(store->db)) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        store->stats.rollbacks++;
    }
}

/* Puts |store| in the failed state after the write error in errmsg; returns KTX_ERR_STORE. */
static int set_failed(struct ktx__store *store)
{
    if (!store->failed) {
        store->failed = true;
        memcpy(store->failmsg, store->errmsg, sizeof(store->failmsg));
    }
    rollback_db(store);
    return KTX_ERR_STORE;
}

/* The error of a write refused in the failed state. */
static int refuse_failed(struct ktx__store *store)
{
    return fail_msg(store, KTX_ERR_STORE,
                    "state file %s: writes are refused after an earlier failure until the store"
                    " is reopened (the failure: %s)",
                    store->path, store->failmsg);
}

/* Counts a commit that took |us| microseconds. */
static void count_commit(struct ktx__store *store, uint64_t us)
{
    struct ktx__store_stats *s = &store->stats;
    s->commits++;
    if (store->sync == KTX__STATE_SYNC_FULL)
        s->fsync_estimate++; /* WAL + FULL syncs the WAL at every commit */
    s->commit_last_us = us;
    if (us > s->commit_max_us)
        s->commit_max_us = us;
    unsigned b = 0;
    while (b < KTX__STORE_HIST_BUCKETS - 1 && us >= ((uint64_t)1 << b))
        b++;
    s->commit_hist[b]++;
}

/* Begins a SQLite write transaction. A busy database is reported without failing the store. */
static int begin_db(struct ktx__store *store)
{
    int rc = sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    sql_error(store, rc, "beginning a write transaction");
    return (rc & 0xff) == SQLITE_BUSY ? KTX_ERR_STORE : set_failed(store);
}

/* Commits SQLite's transaction, timing it; a failure fails the store. */
static int commit_db(struct ktx__store *store)
{
    uint64_t start = mono_us();
    int rc = sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sql_error(store, rc, "commit");
        return set_failed(store);
    }
    count_commit(store, mono_us() - start);
    return 0;
}

/*
 * Starts a write: refuses it in the failed state, and outside a store transaction begins
 * one for this call alone (|*own| is then true and write_end() commits it).
 */
static int write_begin(struct ktx__store *store, bool *own)
{
    *own = false;
    if (store->failed)
        return refuse_failed(store);
    if (store->in_txn)
        return 0;
    int rc = begin_db(store);
    *own = rc == 0;
    return rc;
}

/*
 * Ends a write that returned |rc|: KTX_ERR_STORE fails the store; another error rolls back
 * a transaction of this call alone (an open store transaction keeps its earlier writes);
 * success commits a transaction of this call alone.
 */
static int write_end(struct ktx__store *store, bool own, int rc)
{
    if (rc == KTX_ERR_STORE)
        return set_failed(store);
    if (!own)
        return rc;
    if (rc != 0) {
        rollback_db(store);
        return rc;
    }
    return commit_db(store);
}

/* Runs a passive WAL checkpoint on |db|; returns true when it ran. */
static bool checkpoint_wal(sqlite3 *db)
{
    return sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) == SQLITE_OK;
}

/* The checkpointer thread: one passive checkpoint per request, until asked to stop. */
static void *checkpointer(void *opaque)
{
    struct ktx__store *store = opaque;

    pthread_mutex_lock(&store->ckpt_lock);
    for (;;) {
        while (!store->ckpt_wanted && !store->ckpt_stop)
            pthread_cond_wait(&store->ckpt_cond, &store->ckpt_lock);
        if (store->ckpt_stop)
            break;
        store->ckpt_wanted = false;
        pthread_mutex_unlock(&store->ckpt_lock);
        bool ran = checkpoint_wal(store->ckpt_db);
        pthread_mutex_lock(&store->ckpt_lock);
        store->ckpt_done += ran;
    }
    pthread_mutex_unlock(&store->ckpt_lock);
    return NULL;
}

/*
 * Starts the checkpointer on a second connection with the same sync mode (a checkpoint
 * syncs the WAL and the database file as the mode says). Without it (a failure here) the
 * commits checkpoint themselves as before.
 */
static void start_checkpointer(struct ktx__store *store)
{
    if (sqlite3_open_v2(store->path, &store->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(store->ckpt_db,
                     store->sync == KTX__STATE_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                                         : "PRAGMA synchronous=NORMAL",
                     NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(store->ckpt_db);
        store->ckpt_db = NULL;
        return;
    }
    sqlite3_busy_timeout(store->ckpt_db, KTX__STORE_BUSY_TIMEOUT_MS);
    sqlite3_wal_autocheckpoint(store->ckpt_db, 0);
    pthread_mutex_init(&store->ckpt_lock, NULL);
    pthread_cond_init(&store->ckpt_cond, NULL);
    if (pthread_create(&store->ckpt_thread, NULL, checkpointer, store) != 0) {
        pthread_mutex_destroy(&store->ckpt_lock);
        pthread_cond_destroy(&store->ckpt_cond);
        sqlite3_close(store->ckpt_db);
        store->ckpt_db = NULL;
        return;
    }
    store->ckpt_started = true;
}

/* Stops the checkpointer and closes its connection. */
static void stop_checkpointer(struct ktx__store *store)
{
    if (!store->ckpt_started)
        return;
    pthread_mutex_lock(&store->ckpt_lock);
    store->ckpt_stop = true;
    pthread_cond_signal(&store->ckpt_cond);
    pthread_mutex_unlock(&store->ckpt_lock);
    pthread_join(store->ckpt_thread, NULL);
    pthread_mutex_destroy(&store->ckpt_lock);
    pthread_cond_destroy(&store->ckpt_cond);
    sqlite3_close(store->ckpt_db);
    store->ckpt_db = NULL;
    store->ckpt_started = false;
}

/*
 * SQLite calls this after each commit with the WAL's size in pages. Registering it
 * replaces SQLite's automatic checkpoint: past WAL_CHECKPOINT_PAGES (and each further
 * WAL_CHECKPOINT_PAGES) the checkpointer thread runs a passive checkpoint, so that it can
 * be counted and the commit does not wait for it; past WAL_INLINE_CHECKPOINT_PAGES, or
 * without the thread, the commit runs it.
 */
static int wal_hook(void *opaque, sqlite3 *db, const char *name, int pages)
{
    struct ktx__store *store = opaque;
    (void)name;
    if (pages < WAL_CHECKPOINT_PAGES) {
        store->ckpt_next_pages = WAL_CHECKPOINT_PAGES; /* the WAL started over */
        return SQLITE_OK;
    }
    if (store->ckpt_started && pages < WAL_INLINE_CHECKPOINT_PAGES) {
        if (pages >= store->ckpt_next_pages) {
            store->ckpt_next_pages = pages + WAL_CHECKPOINT_PAGES;
            pthread_mutex_lock(&store->ckpt_lock);
            store->ckpt_wanted = true;
            pthread_cond_signal(&store->ckpt_cond);
            pthread_mutex_unlock(&store->ckpt_lock);
        }
        return SQLITE_OK;
    }
    if (checkpoint_wal(db)) {
        store->stats.checkpoints++;
        store->stats.fsync_estimate += 2; /* the WAL, then the database file */
    }
    return SQLITE_OK;
}

int ktx__store_txn_begin(struct ktx__store *store)
{
    if (store->in_txn)
        return fail_msg(store, KTX_ERR_STATE, "state file %s: a store transaction is already open",
                        store->path);
    if (store->failed)
        return refuse_failed(store);
    int rc = begin_db(store);
    if (rc == 0)
        store->in_txn = true;
    return rc;
}

int ktx__store_txn_commit(struct ktx__store *store)
{
    if (!store->in_txn)
        return fail_msg(store, KTX_ERR_STATE, "state file %s: no store transaction is open",
                        store->path);
    store->in_txn = false;
    if (store->failed)
        return refuse_failed(store);
    return commit_db(store);
}

int ktx__store_txn_rollback(struct ktx__store *store)
{
    if (!store->in_txn)
        return fail_msg(store, KTX_ERR_STATE, "state file %s: no store transaction is open",
                        store->path);
    store->in_txn = false;
    rollback_db(store);
    return 0;
}

/* ---- Opening: checks and migrations. ---- */

/* Runs |sql| expecting one row whose first column is an integer; stores it in |*out|. */
static int query_int(struct ktx__store *store, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(store, rc, what);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : sql_error(store, rc, what);
}

/* Runs |sql| expecting one text row equal to |want| (for PRAGMAs); |what| names the check. */
static int expect_text(struct ktx__store *store, const char *sql, const char *want,
                       const char *what)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(store, rc, what);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sql_error(store, rc, what);
        sqlite3_finalize(st);
        return KTX_ERR_STORE;
    }
    const char *got = (const char *)sqlite3_column_text(st, 0);
    int ok = got != NULL && strcmp(got, want) == 0;
    if (!ok)
        fail_msg(store, KTX_ERR_STORE, "state file %s: %s failed: %s", store->path, what,
                 got != NULL ? got : "(null)");
    sqlite3_finalize(st);
    return ok ? 0 : KTX_ERR_STORE;
}

/*
 * Reads the schema version of the file into |*version|: 0 for an empty file; KTX_ERR_STORE
 * for a database that is not a kafkatx state file.
 */
static int read_version(struct ktx__store *store, int64_t *version)
{
    int64_t tables = 0, has = 0;
    int rc = query_int(store, "SELECT count(*) FROM sqlite_master", &tables, "reading the schema");
    if (rc == 0)
        rc = query_int(store, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                              " AND name = 'schema_version'", &has, "reading the schema");
    if (rc != 0)
        return rc;
    *version = 0;
    if (has == 0)
        return tables == 0 ? 0
                           : fail_msg(store, KTX_ERR_STORE,
                                      "state file %s: the file is an SQLite database but not a"
                                      " kafkatx state file (no schema_version table)",
                                      store->path);
    return query_int(store, "SELECT coalesce(max(version), 0) FROM schema_version", version,
                     "reading the schema version");
}

/* Runs migrations |from|+1 .. KTX__STORE_SCHEMA_VERSION inside the open transaction. */
static int run_migrations(struct ktx__store *store, int64_t from)
{
    for (int64_t v = from + 1; v <= KTX__STORE_SCHEMA_VERSION; v++) {
        char what[64], sql[128];
        snprintf(what, sizeof(what), "migration to schema version %d", (int)v);
        int rc = sqlite3_exec(store->db, migrations[v], NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES(%d, %lld)", (int)v,
                     (long long)now_ms());
            rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
        }
        if (rc != SQLITE_OK)
            return sql_error(store, rc, what);
    }
    return 0;
}

/*
 * Brings the schema to KTX__STORE_SCHEMA_VERSION: refuses a newer file, and migrates an older
 * one in a single transaction (re-reading the version under the write lock, since another
 * process may have migrated meanwhile). A failed migration is rolled back entirely.
 */
static int migrate(struct ktx__store *store)
{
    int64_t version;
    int rc = read_version(store, &version);
    if (rc == 0 && version > KTX__STORE_SCHEMA_VERSION)
        return fail_msg(store, KTX_ERR_STORE,
                        "state file %s: schema version %lld is newer than this kafkatx supports"
                        " (%d); use a newer kafkatx or another state.path",
                        store->path, (long long)version, KTX__STORE_SCHEMA_VERSION);
    if (rc != 0 || version == KTX__STORE_SCHEMA_VERSION)
        return rc;
    if ((rc = exec_ctl(store, "BEGIN IMMEDIATE", "beginning the migration")) != 0)
        return rc;
    rc = read_version(store, &version);
    if (rc == 0 && version < KTX__STORE_SCHEMA_VERSION)
        rc = run_migrations(store, version);
    if (rc == 0)
        rc = exec_ctl(store, "COMMIT", "committing the migration");
    if (rc != 0) {
        rollback_db(store);
        size_t n = strlen(store->errmsg);
        snprintf(store->errmsg + n, sizeof(store->errmsg) - n, "; the file was left unchanged");
    }
    return rc;
}

/* Opens the SQLite connection and refuses files SQLite can only read. */
static int open_db(struct ktx__store *store)
{
    int rc = sqlite3_open_v2(store->path, &store->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return sql_error(store, rc, "opening");
    sqlite3_extended_result_codes(store->db, 1);
    sqlite3_busy_timeout(store->db, KTX__STORE_BUSY_TIMEOUT_MS);
    if (sqlite3_db_readonly(store->db, "main") == 1)
        return fail_msg(store, KTX_ERR_STORE,
                        "state file %s: opening failed: the file is read-only (%s)", store->path,
                        strerror(EACCES));
    return 0;
}

/* Checks, migrates and configures the freshly opened file (see ktx__store_open()). */
static int prepare_file(struct ktx__store *store)
{
    int rc = expect_text(store, "PRAGMA quick_check", "ok", "the integrity check");
    if (rc == 0)
        rc = migrate(store);
    if (rc == 0)
        rc = expect_text(store, "PRAGMA journal_mode=WAL", "wal", "switching to WAL mode");
    if (rc == 0)
        rc = exec_ctl(store,
                      store->sync == KTX__STATE_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                                          : "PRAGMA synchronous=NORMAL",
                      "setting the sync mode");
    if (rc != 0)
        return rc;
    sqlite3_wal_hook(store->db, wal_hook, store);
    start_checkpointer(store);
    bool own;
    if ((rc = write_begin(store, &own)) != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_PRODUCER_ENSURE);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_int64(st, 2, now_ms());
    return write_end(store, own, run_done(store, st, "creating the producer row"));
}

int ktx__store_open(struct ktx__store **out, const char *path, const char *identity,
                    enum ktx__state_sync sync, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (path == NULL || path[0] == '\0' || !name_ok(identity)) {
        snprintf(errbuf, errlen, "state store: the path and the identity must not be empty");
        return KTX_ERR_INVALID_ARG;
    }
    struct ktx__store *store = calloc(1, sizeof(*store));
    if (store != NULL)
        store->lock_fd = -1;
    if (store == NULL || (store->path = strdup(path)) == NULL ||
        (store->identity = strdup(identity)) == NULL) {
        snprintf(errbuf, errlen, "state file %s: out of memory", path);
        ktx__store_close(store);
        return KTX_ERR_NO_MEMORY;
    }
    store->sync = sync;
    int rc = ktx__store_lock_acquire(&store->lock_fd, path, identity, errbuf, errlen);
    if (rc != 0) {
        ktx__store_close(store);
        return rc;
    }
    rc = open_db(store);
    if (rc == 0)
        rc = prepare_file(store);
    if (rc != 0) {
        snprintf(errbuf, errlen, "%s", store->errmsg);
        ktx__store_close(store);
        return rc;
    }
    *out = store;
    return 0;
}

void ktx__store_close(struct ktx__store *store)
{
    if (store == NULL)
        return;
    stop_checkpointer(store);
    if (store->db != NULL) {
        rollback_db(store);
        for (int i = 0; i < ST_COUNT; i++)
            sqlite3_finalize(store->stmts[i]);
        sqlite3_close(store->db);
    }
    ktx__store_lock_release(store->lock_fd);
    free(store->path);
    free(store->identity);
    free(store);
}

const char *ktx__store_errmsg(const struct ktx__store *store)
{
    return store->errmsg;
}

bool ktx__store_failed(const struct ktx__store *store)
{
    return store->failed;
}

const char *ktx__store_path(const struct ktx__store *store)
{
    return store->path;
}

/* ---- The producer row and the last transaction. ---- */

int ktx__store_load_producer(struct ktx__store *store, struct ktx__store_producer *out)
{
    memset(out, 0, sizeof(*out));
    out->producer_id = -1;
    out->producer_epoch = -1;
    sqlite3_stmt *st = stmt(store, ST_PRODUCER_LOAD);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc = sqlite3_step(st);
    bool oom = false;
    if (rc == SQLITE_ROW) {
        out->producer_id = sqlite3_column_int64(st, 0);
        out->producer_epoch = (int16_t)sqlite3_column_int(st, 1);
        out->transactional_id = column_strdup(st, 2, &oom);
        out->created_ms = sqlite3_column_int64(st, 3);
        out->updated_ms = sqlite3_column_int64(st, 4);
    }
    int err = read_end(store, st, rc, "loading the producer");
    if (err == 0 && oom)
        err = fail_msg(store, KTX_ERR_NO_MEMORY, "state file %s: out of memory", store->path);
    return err;
}

int ktx__store_save_producer(struct ktx__store *store, const struct ktx__store_producer *rec)
{
    if (rec->transactional_id != NULL && !name_ok(rec->transactional_id))
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid transactional id",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_PRODUCER_SAVE);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_int64(st, 2, rec->producer_id);
    sqlite3_bind_int(st, 3, rec->producer_epoch);
    if (rec->transactional_id != NULL)
        sqlite3_bind_text(st, 4, rec->transactional_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now_ms());
    return write_end(store, own, run_done(store, st, "saving the producer"));
}

void ktx__store_producer_clear(struct ktx__store_producer *rec)
{
    if (rec == NULL)
        return;
    free(rec->transactional_id);
    rec->transactional_id = NULL;
}

const char *ktx__store_txn_state_name(enum ktx__store_txn_state state)
{
    static const char *const names[] = {"none",      "ongoing", "committing",
                                        "committed", "aborting", "aborted"};
    return (unsigned)state < KTX__ARRAY_LEN(names) ? names[state] : "unknown";
}

/* Reads the stored transaction state into |*state| (and its time into |*ms| when not NULL). */
static int get_txn_state(struct ktx__store *store, enum ktx__store_txn_state *state, int64_t *ms)
{
    sqlite3_stmt *st = stmt(store, ST_TXN_STATE_GET);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc = sqlite3_step(st);
    *state = KTX__STORE_TXN_NONE;
    if (rc == SQLITE_ROW) {
        *state = (enum ktx__store_txn_state)sqlite3_column_int(st, 0);
        if (ms != NULL)
            *ms = sqlite3_column_int64(st, 1);
    }
    return read_end(store, st, rc, "loading the transaction state");
}

/* The writes of ktx__store_set_txn_state() inside the write transaction. */
static int set_txn_state_locked(struct ktx__store *store, enum ktx__store_txn_state state)
{
    enum ktx__store_txn_state prev;
    int rc = get_txn_state(store, &prev, NULL);
    if (rc != 0)
        return rc;
    bool finished = prev == KTX__STORE_TXN_NONE || prev == KTX__STORE_TXN_COMMITTED ||
                    prev == KTX__STORE_TXN_ABORTED;
    if (state == KTX__STORE_TXN_ONGOING && finished) {
        sqlite3_stmt *st = stmt(store, ST_TXN_PART_CLEAR);
        if (st == NULL || run_done(store, st, "clearing the transaction's partitions") != 0)
            return KTX_ERR_STORE;
        st = stmt(store, ST_TXN_GROUP_CLEAR);
        if (st == NULL || run_done(store, st, "clearing the transaction's groups") != 0)
            return KTX_ERR_STORE;
    }
    sqlite3_stmt *st = stmt(store, ST_TXN_STATE_SET);
    if (st == NULL)
        return KTX_ERR_STORE;
    sqlite3_bind_int(st, 2, (int)state);
    sqlite3_bind_int64(st, 3, now_ms());
    return run_done(store, st, "saving the transaction state");
}

int ktx__store_set_txn_state(struct ktx__store *store, enum ktx__store_txn_state state)
{
    if ((unsigned)state > KTX__STORE_TXN_ABORTED)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid transaction state %d",
                        store->path, (int)state);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    return write_end(store, own, set_txn_state_locked(store, state));
}

int ktx__store_txn_add_partition(struct ktx__store *store, const char *topic, int32_t partition)
{
    if (!name_ok(topic) || partition < 0)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid topic or partition",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_TXN_PART_ADD);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    return write_end(store, own, run_done(store, st, "adding a partition to the transaction"));
}

int ktx__store_txn_add_group(struct ktx__store *store, const char *group_id)
{
    if (!name_ok(group_id))
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid group id",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_TXN_GROUP_ADD);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_text(st, 2, group_id, -1, SQLITE_STATIC);
    return write_end(store, own, run_done(store, st, "adding a group to the transaction"));
}

/* Appends the current row of |st| (topic, partition) to |txn|'s partitions. */
static bool push_partition(struct ktx__store_txn *txn, sqlite3_stmt *st)
{
    struct ktx__store_tp *tps = realloc(txn->partitions, (txn->partition_cnt + 1) * sizeof(*tps));
    if (tps == NULL)
        return false;
    txn->partitions = tps;
    const char *text = (const char *)sqlite3_column_text(st, 0);
    char *topic = strdup(text != NULL ? text : ""); /* NULL only in a hand-edited file */
    if (topic == NULL)
        return false;
    tps[txn->partition_cnt].topic = topic;
    tps[txn->partition_cnt++].partition = sqlite3_column_int(st, 1);
    return true;
}

/* Appends the current row of |st| (group id) to |txn|'s groups. */
static bool push_group(struct ktx__store_txn *txn, sqlite3_stmt *st)
{
    char **groups = realloc(txn->groups, (txn->group_cnt + 1) * sizeof(*groups));
    if (groups == NULL)
        return false;
    txn->groups = groups;
    const char *text = (const char *)sqlite3_column_text(st, 0);
    char *group = strdup(text != NULL ? text : "");
    if (group == NULL)
        return false;
    groups[txn->group_cnt++] = group;
    return true;
}

/* Loads the rows of statement |id| into |txn| with |push|. */
static int load_members(struct ktx__store *store, enum stmt_id id, struct ktx__store_txn *txn,
                        bool (*push)(struct ktx__store_txn *, sqlite3_stmt *))
{
    sqlite3_stmt *st = stmt(store, id);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!push(txn, st)) {
            read_end(store, st, SQLITE_DONE, "");
            return fail_msg(store, KTX_ERR_NO_MEMORY, "state file %s: out of memory",
                            store->path);
        }
    }
    return read_end(store, st, rc, "loading the transaction");
}

int ktx__store_get_txn(struct ktx__store *store, struct ktx__store_txn *out)
{
    memset(out, 0, sizeof(*out));
    int rc = get_txn_state(store, &out->state, &out->updated_ms);
    if (rc == 0)
        rc = load_members(store, ST_TXN_PART_LIST, out, push_partition);
    if (rc == 0)
        rc = load_members(store, ST_TXN_GROUP_LIST, out, push_group);
    if (rc != 0)
        ktx__store_txn_clear(out);
    return rc;
}

void ktx__store_txn_clear(struct ktx__store_txn *txn)
{
    if (txn == NULL)
        return;
    for (size_t i = 0; i < txn->partition_cnt; i++)
        free(txn->partitions[i].topic);
    for (size_t i = 0; i < txn->group_cnt; i++)
        free(txn->groups[i]);
    free(txn->partitions);
    free(txn->groups);
    memset(txn, 0, sizeof(*txn));
}

/* ---- Sequences. ---- */

int ktx__store_save_sequence(struct ktx__store *store, const struct ktx__store_seq *seq)
{
    if (!name_ok(seq->topic) || seq->partition < 0)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid topic or partition",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_SEQ_SAVE);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_text(st, 2, seq->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, seq->partition);
    sqlite3_bind_int64(st, 4, seq->producer_id);
    sqlite3_bind_int(st, 5, seq->producer_epoch);
    sqlite3_bind_int(st, 6, seq->next_sequence);
    sqlite3_bind_int(st, 7, seq->last_acked_sequence);
    return write_end(store, own, run_done(store, st, "saving a sequence"));
}

int ktx__store_load_sequences(struct ktx__store *store, ktx__store_seq_cb cb, void *opaque)
{
    sqlite3_stmt *st = stmt(store, ST_SEQ_LOAD);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ktx__store_seq seq = {
            .topic = (const char *)sqlite3_column_text(st, 0),
            .partition = sqlite3_column_int(st, 1),
            .producer_id = sqlite3_column_int64(st, 2),
            .producer_epoch = (int16_t)sqlite3_column_int(st, 3),
            .next_sequence = sqlite3_column_int(st, 4),
            .last_acked_sequence = sqlite3_column_int(st, 5),
        };
        if (seq.topic == NULL) {
            read_end(store, st, SQLITE_DONE, "");
            return corrupt_row(store, "sequence");
        }
        stop = cb(opaque, &seq);
    }
    if (stop != 0) {
        read_end(store, st, SQLITE_DONE, "");
        return stop;
    }
    return read_end(store, st, rc, "loading the sequences");
}

int ktx__store_reset_sequences(struct ktx__store *store)
{
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_SEQ_RESET);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    return write_end(store, own, run_done(store, st, "resetting the sequences"));
}

/* ---- The journal. ---- */

/* Counts the journaled batches of |topic| |partition| into |*count|. */
static int journal_count(struct ktx__store *store, const char *topic, int32_t partition,
                         size_t *count)
{
    sqlite3_stmt *st = stmt(store, ST_JOURNAL_COUNT);
    if (st == NULL)
        return KTX_ERR_STORE;
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    return read_end(store, st, rc, "counting the journal");
}

int ktx__store_journal_count(struct ktx__store *store, const char *topic, int32_t partition,
                             size_t *count)
{
    *count = 0;
    if (!name_ok(topic))
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid topic", store->path);
    return journal_count(store, topic, partition, count);
}

/* The writes of ktx__store_journal_append() inside the write transaction. */
static int journal_append_locked(struct ktx__store *store, const struct ktx__store_batch *batch)
{
    size_t count;
    int rc = journal_count(store, batch->topic, batch->partition, &count);
    if (rc != 0)
        return rc;
    if (count >= KTX__STORE_JOURNAL_MAX_PER_PARTITION)
        return fail_msg(store, KTX_ERR_STATE,
                        "state file %s: the journal of %s [%d] already holds %zu unacknowledged"
                        " batches; the broker deduplicates only the last %d",
                        store->path, batch->topic, (int)batch->partition, count,
                        KTX__STORE_JOURNAL_MAX_PER_PARTITION);
    sqlite3_stmt *st = stmt(store, ST_JOURNAL_APPEND);
    if (st == NULL)
        return KTX_ERR_STORE;
    sqlite3_bind_text(st, 2, batch->topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, batch->partition);
    sqlite3_bind_int64(st, 4, batch->producer_id);
    sqlite3_bind_int(st, 5, batch->producer_epoch);
    sqlite3_bind_int(st, 6, batch->base_sequence);
    sqlite3_bind_int(st, 7, batch->record_count);
    sqlite3_bind_blob(st, 8, batch->bytes, (int)batch->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, now_ms());
    return run_done(store, st, "journal append");
}

int ktx__store_journal_append(struct ktx__store *store, const struct ktx__store_batch *batch)
{
    if (!name_ok(batch->topic) || batch->partition < 0 || batch->bytes == NULL ||
        batch->len == 0 || batch->len > KTX__STORE_MAX_BATCH_BYTES || batch->record_count <= 0 ||
        batch->base_sequence < 0)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid journal batch",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    return write_end(store, own, journal_append_locked(store, batch));
}

int ktx__store_journal_ack(struct ktx__store *store, const char *topic, int32_t partition,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
    if (!name_ok(topic) || partition < 0)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid topic or partition",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, ST_JOURNAL_ACK);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    sqlite3_bind_int64(st, 4, producer_id);
    sqlite3_bind_int(st, 5, producer_epoch);
    sqlite3_bind_int(st, 6, base_sequence);
    rc = run_done(store, st, "journal ack");
    if (rc == 0 && sqlite3_changes(store->db) == 0)
        rc = fail_msg(store, KTX_ERR_STATE,
                      "state file %s: no journaled batch of %s [%d] with producer id %lld, epoch"
                      " %d and base sequence %d",
                      store->path, topic, (int)partition, (long long)producer_id,
                      (int)producer_epoch, (int)base_sequence);
    return write_end(store, own, rc);
}

int ktx__store_journal_discard(struct ktx__store *store, const char *topic, int32_t partition)
{
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, topic != NULL ? ST_JOURNAL_DISCARD_TP : ST_JOURNAL_DISCARD_ALL);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    if (topic != NULL) {
        sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, partition);
    }
    return write_end(store, own, run_done(store, st, "journal discard"));
}

int ktx__store_journal_load(struct ktx__store *store, ktx__store_batch_cb cb, void *opaque)
{
    sqlite3_stmt *st = stmt(store, ST_JOURNAL_LOAD);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc, stop = 0;
    while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ktx__store_batch batch = {
            .topic = (const char *)sqlite3_column_text(st, 0),
            .partition = sqlite3_column_int(st, 1),
            .producer_id = sqlite3_column_int64(st, 2),
            .producer_epoch = (int16_t)sqlite3_column_int(st, 3),
            .base_sequence = sqlite3_column_int(st, 4),
            .record_count = sqlite3_column_int(st, 5),
            .bytes = sqlite3_column_blob(st, 6),
            .len = (size_t)sqlite3_column_bytes(st, 6),
            .appended_ms = sqlite3_column_int64(st, 7),
        };
        if (batch.topic == NULL || batch.bytes == NULL) {
            read_end(store, st, SQLITE_DONE, "");
            return corrupt_row(store, "journal");
        }
        stop = cb(opaque, &batch);
    }
    if (stop != 0) {
        read_end(store, st, SQLITE_DONE, "");
        return stop;
    }
    return read_end(store, st, rc, "loading the journal");
}

/* ---- The application checkpoint. ---- */

int ktx__store_checkpoint_set(struct ktx__store *store, const void *data, size_t len)
{
    if ((data == NULL && len != 0) || len > KTX__STORE_MAX_CHECKPOINT_BYTES)
        return fail_msg(store, KTX_ERR_INVALID_ARG, "state file %s: invalid checkpoint",
                        store->path);
    bool own;
    int rc = write_begin(store, &own);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = stmt(store, len == 0 ? ST_CKPT_DEL : ST_CKPT_SET);
    if (st == NULL)
        return write_end(store, own, KTX_ERR_STORE);
    if (len != 0) {
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_ms());
    }
    return write_end(store, own, run_done(store, st, "saving the checkpoint"));
}

int ktx__store_checkpoint_get(struct ktx__store *store, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    sqlite3_stmt *st = stmt(store, ST_CKPT_GET);
    if (st == NULL)
        return KTX_ERR_STORE;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *blob = sqlite3_column_blob(st, 0);
        if (n > 0 && (*data = malloc(n)) == NULL) {
            read_end(store, st, SQLITE_DONE, "");
            return fail_msg(store, KTX_ERR_NO_MEMORY, "state file %s: out of memory",
                            store->path);
        }
        if (n > 0)
            memcpy(*data, blob, n);
        *len = n;
    }
    return read_end(store, st, rc, "loading the checkpoint");
}

/* ---- Statistics and test hooks. ---- */

void ktx__store_stats(const struct ktx__store *store, struct ktx__store_stats *out)
{
    *out = store->stats;
    if (store->ckpt_started) {
        pthread_mutex_lock((pthread_mutex_t *)&store->ckpt_lock);
        out->checkpoints += store->ckpt_done;
        out->fsync_estimate += 2 * store->ckpt_done; /* the WAL, then the database file */
        pthread_mutex_unlock((pthread_mutex_t *)&store->ckpt_lock);
    }
}

uint64_t ktx__store_stats_quantile_us(const struct ktx__store_stats *stats, double q)
{
    uint64_t total = 0, seen = 0;
    for (int b = 0; b < KTX__STORE_HIST_BUCKETS; b++)
        total += stats->commit_hist[b];
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.999999);
    if (want == 0)
        want = 1;
    for (int b = 0; b < KTX__STORE_HIST_BUCKETS; b++) {
        seen += stats->commit_hist[b];
        if (seen >= want)
            return (uint64_t)1 << b;
    }
    return (uint64_t)1 << (KTX__STORE_HIST_BUCKETS - 1);
}

int ktx__store_debug_exec(struct ktx__store *store, const char *sql)
{
    int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_error(store, rc, "debug statement");
}

int ktx__store_debug_exec_file(const char *path, const char *sql, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        format_sqlite_error(errbuf, errlen, path, db, rc, "debug statement");
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : KTX_ERR_STORE;
}
