/*
 * The configuration object: the property table, set/get/dup, the unknown-name suggestion,
 * and the typed view with the cross-property rules (ktx__conf_resolve()).
 *
 * Names, types, defaults and ranges follow the Java producer's documentation ("Producer
 * Configs", Kafka 4.x) wherever Kafka has the property. The TLS and SASL credential
 * properties follow librdkafka's PEM-file names (ssl.ca.location, sasl.username...) because
 * Java's keystore/truststore and JAAS properties have no meaning for a C client; state.* are
 * kafkatx's own. docs/configuration.md is checked against this table by tests/check_conf.c.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"

#define I32_MAX INT64_C(2147483647)
#define I64_MAX INT64_MAX

/* Longest name or value echoed back in a message. */
#define ECHO_MAX 96

static const char *const acks_values[] = {"all", "-1", "0", "1", NULL};
static const char *const compression_values[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
static const char *const compression_unsupported[] = {"gzip", "snappy", "lz4", NULL};
static const char *const security_values[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL",
                                              NULL};
static const char *const endpoint_values[] = {"https", "none", NULL};
static const char *const sasl_values[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI",
                                          NULL};
static const char *const sync_values[] = {"normal", "full", NULL};

static const char *check_servers(const char *value);
static const char *check_name(const char *value);

#define ROW_INT(id, n, d, lo, hi, text) \
    [id] = {.name = n, .type = KTX__CONF_INT, .def = d, .min = lo, .max = hi, .alias_of = -1, \
            .desc = text}
#define ROW_BOOL(id, n, d, text) \
    [id] = {.name = n, .type = KTX__CONF_BOOL, .def = d, .alias_of = -1, .desc = text}
#define ROW_ENUM(id, n, d, vals, text) \
    [id] = {.name = n, .type = KTX__CONF_ENUM, .def = d, .values = vals, .alias_of = -1, \
            .desc = text}
#define ROW_STR(id, n, d, fl, text) \
    [id] = {.name = n, .type = KTX__CONF_STR, .def = d, .flags = fl, .alias_of = -1, .desc = text}

static const struct ktx__conf_prop props[KTX__CONF_COUNT] = {
    [KTX__CONF_BOOTSTRAP_SERVERS] = {.name = "bootstrap.servers", .type = KTX__CONF_STR,
        .alias_of = -1, .check = check_servers, .range = "comma-separated host:port list",
        .desc = "Brokers to contact first, as host:port pairs separated by commas (IPv6 "
                "addresses in brackets). Required."},
    ROW_STR(KTX__CONF_CLIENT_ID, "client.id", "", KTX__CONF_F_EMPTY_OK,
            "Name sent with every request, for broker logs and quotas."),
    ROW_ENUM(KTX__CONF_ACKS, "acks", "all", acks_values,
             "Acknowledgements the leader waits for: all (-1) waits for every in-sync replica, "
             "1 for the leader only, 0 for none. Idempotence requires all."),
    ROW_BOOL(KTX__CONF_ENABLE_IDEMPOTENCE, "enable.idempotence", "true",
             "Gives each record a producer id and sequence so that retries never duplicate or "
             "reorder it. When not set explicitly it is turned off by acks 0/1, more than 5 "
             "requests in flight or retries=0 (as in Kafka)."),
    [KTX__CONF_TRANSACTIONAL_ID] = {.name = "transactional.id", .type = KTX__CONF_STR,
        .alias_of = -1, .check = check_name, .range = "1-249 characters of [A-Za-z0-9._-]",
        .desc = "Identity of a transactional producer, stable across restarts; enables the "
                "transaction API and fences older producers with the same id."},
    ROW_INT(KTX__CONF_TRANSACTION_TIMEOUT_MS, "transaction.timeout.ms", "60000", 1, I32_MAX,
            "Longest time the coordinator lets a transaction stay open before aborting it; "
            "must not exceed the broker's transaction.max.timeout.ms."),
    ROW_INT(KTX__CONF_LINGER_MS, "linger.ms", "5", 0, I64_MAX,
            "How long to wait for more records before sending a batch. The default is Kafka "
            "4.0's (5; it was 0 before)."),
    ROW_INT(KTX__CONF_BATCH_SIZE, "batch.size", "16384", 0, I32_MAX,
            "Target size in bytes of a partition's batch; 0 disables batching. The default is "
            "Kafka's (16384), kept so that per-partition memory, latency and request sizes "
            "match the Java client (and check_conf's Kafka defaults); librdkafka's is 1000000. "
            "For throughput with small records set a larger value up to max.request.size "
            "(docs/benchmarks.md)."),
    ROW_INT(KTX__CONF_BUFFER_MEMORY, "buffer.memory", "33554432", 0, I64_MAX,
            "Bytes of records the producer buffers before ktx_send() blocks (up to "
            "max.block.ms)."),
    ROW_INT(KTX__CONF_MAX_BLOCK_MS, "max.block.ms", "60000", 0, I64_MAX,
            "Longest time ktx_send() and the transaction calls block waiting for buffer space "
            "or metadata."),
    ROW_INT(KTX__CONF_MAX_IN_FLIGHT, "max.in.flight.requests.per.connection", "5", 1, I32_MAX,
            "Unacknowledged produce requests per connection; at most 5 with idempotence."),
    ROW_INT(KTX__CONF_RETRIES, "retries", "2147483647", 0, I32_MAX,
            "How many times a failed batch is retried; delivery.timeout.ms bounds the total "
            "time anyway. Idempotence requires more than 0."),
    ROW_INT(KTX__CONF_RETRY_BACKOFF_MS, "retry.backoff.ms", "100", 0, I64_MAX,
            "First wait before retrying a failed request; doubles up to retry.backoff.max.ms."),
    ROW_INT(KTX__CONF_RETRY_BACKOFF_MAX_MS, "retry.backoff.max.ms", "1000", 0, I64_MAX,
            "Longest wait between retries (if below retry.backoff.ms, retry.backoff.ms is "
            "used)."),
    ROW_INT(KTX__CONF_DELIVERY_TIMEOUT_MS, "delivery.timeout.ms", "120000", 0, I32_MAX,
            "Upper bound on the time between ktx_send() and the delivery report; must be at "
            "least linger.ms + request.timeout.ms."),
    ROW_INT(KTX__CONF_REQUEST_TIMEOUT_MS, "request.timeout.ms", "30000", 0, I32_MAX,
            "How long to wait for a broker's response before failing the request."),
    ROW_INT(KTX__CONF_METADATA_MAX_AGE_MS, "metadata.max.age.ms", "300000", 0, I64_MAX,
            "Metadata is refreshed at least this often, even without errors."),
    ROW_INT(KTX__CONF_RECONNECT_BACKOFF_MS, "reconnect.backoff.ms", "50", 0, I64_MAX,
            "First wait before reconnecting to a broker; doubles up to "
            "reconnect.backoff.max.ms."),
    ROW_INT(KTX__CONF_RECONNECT_BACKOFF_MAX_MS, "reconnect.backoff.max.ms", "1000", 0, I64_MAX,
            "Longest wait before reconnecting to a broker."),
    [KTX__CONF_COMPRESSION_TYPE] = {.name = "compression.type", .type = KTX__CONF_ENUM,
        .def = "none", .values = compression_values, .unsupported = compression_unsupported,
        .alias_of = -1,
        .desc = "Codec for record batches. Kafka accepts none, gzip, snappy, lz4 and zstd; "
                "kafkatx supports none and zstd so far (the others are rejected with a "
                "\"not supported yet\" error)."},
    ROW_INT(KTX__CONF_COMPRESSION_ZSTD_LEVEL, "compression.zstd.level", "3", -131072, 22,
            "zstd compression level (Kafka's name and range)."),
    [KTX__CONF_COMPRESSION_LEVEL] = {.name = "compression.level", .type = KTX__CONF_INT,
        .def = "3", .min = -131072, .max = 22, .alias_of = KTX__CONF_COMPRESSION_ZSTD_LEVEL,
        .desc = "Another name for compression.zstd.level (the only codec with a level so "
                "far)."},
    ROW_INT(KTX__CONF_MAX_REQUEST_SIZE, "max.request.size", "1048576", 0, I32_MAX,
            "Largest produce request in bytes, which also caps a single record."),
    ROW_BOOL(KTX__CONF_PARTITIONER_IGNORE_KEYS, "partitioner.ignore.keys", "false",
             "When true, records with a key are spread like keyless records instead of by "
             "key hash."),
    ROW_INT(KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MS, "socket.connection.setup.timeout.ms",
            "10000", 0, I64_MAX,
            "First timeout for establishing a connection; grows up to "
            "socket.connection.setup.timeout.max.ms."),
    ROW_INT(KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS,
            "socket.connection.setup.timeout.max.ms", "30000", 0, I64_MAX,
            "Longest timeout for establishing a connection."),
    ROW_ENUM(KTX__CONF_SECURITY_PROTOCOL, "security.protocol", "PLAINTEXT", security_values,
             "How to talk to brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL."),
    ROW_STR(KTX__CONF_SSL_CA_LOCATION, "ssl.ca.location", NULL, 0,
            "File or directory of CA certificates (PEM) to verify brokers with; the system "
            "store when neither this nor ssl.ca.pem is set."),
    ROW_STR(KTX__CONF_SSL_CA_PEM, "ssl.ca.pem", NULL, KTX__CONF_F_PEM,
            "CA certificates as PEM text, instead of ssl.ca.location."),
    ROW_STR(KTX__CONF_SSL_CERTIFICATE_LOCATION, "ssl.certificate.location", NULL, 0,
            "Client certificate file (PEM) for mutual TLS."),
    ROW_STR(KTX__CONF_SSL_CERTIFICATE_PEM, "ssl.certificate.pem", NULL, KTX__CONF_F_PEM,
            "Client certificate as PEM text, instead of ssl.certificate.location."),
    ROW_STR(KTX__CONF_SSL_KEY_LOCATION, "ssl.key.location", NULL, 0,
            "Client private key file (PEM) for mutual TLS; needs a certificate."),
    ROW_STR(KTX__CONF_SSL_KEY_PEM, "ssl.key.pem", NULL, KTX__CONF_F_PEM | KTX__CONF_F_SECRET,
            "Client private key as PEM text, instead of ssl.key.location. Secret."),
    ROW_STR(KTX__CONF_SSL_KEY_PASSWORD, "ssl.key.password", NULL,
            KTX__CONF_F_SECRET | KTX__CONF_F_EMPTY_OK,
            "Password of an encrypted private key. Secret."),
    ROW_STR(KTX__CONF_SSL_CIPHER_SUITES, "ssl.cipher.suites", NULL, 0,
            "OpenSSL cipher list for TLS 1.2 and below; OpenSSL's default when not set."),
    ROW_ENUM(KTX__CONF_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM,
             "ssl.endpoint.identification.algorithm", "https", endpoint_values,
             "https checks that the broker's certificate matches its host name; none skips "
             "the check."),
    ROW_ENUM(KTX__CONF_SASL_MECHANISM, "sasl.mechanism", NULL, sasl_values,
             "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI. Required with "
             "SASL_* protocols (kafkatx has no default, unlike Java's GSSAPI)."),
    ROW_STR(KTX__CONF_SASL_USERNAME, "sasl.username", NULL, 0,
            "User name for PLAIN and SCRAM."),
    ROW_STR(KTX__CONF_SASL_PASSWORD, "sasl.password", NULL, KTX__CONF_F_SECRET,
            "Password for PLAIN and SCRAM. Secret."),
    ROW_STR(KTX__CONF_SASL_KERBEROS_SERVICE_NAME, "sasl.kerberos.service.name", "kafka", 0,
            "Kerberos principal name the brokers run as (GSSAPI)."),
    ROW_STR(KTX__CONF_SASL_KERBEROS_PRINCIPAL, "sasl.kerberos.principal", NULL, 0,
            "This client's Kerberos principal (GSSAPI): it authenticates as exactly this one."),
    ROW_STR(KTX__CONF_SASL_KERBEROS_KEYTAB, "sasl.kerberos.keytab", NULL, 0,
            "Keytab file holding the client principal's key (GSSAPI); without it, the ticket "
            "cache must hold the principal."),
    ROW_STR(KTX__CONF_STATE_PATH, "state.path", NULL, 0,
            "kafkatx: directory of the persisted producer state (sqlite3). Not set: nothing "
            "is persisted."),
    [KTX__CONF_STATE_PRODUCER_NAME] = {.name = "state.producer.name", .type = KTX__CONF_STR,
        .alias_of = -1, .check = check_name, .range = "1-249 characters of [A-Za-z0-9._-]",
        .desc = "kafkatx: key of this producer's state within state.path; defaults to "
                "transactional.id, else client.id, else \"default\"."},
    ROW_ENUM(KTX__CONF_STATE_SYNC, "state.sync", "normal", sync_values,
             "kafkatx: durability of state writes: normal syncs at checkpoints and transaction "
             "boundaries, full on every write."),
    ROW_BOOL(KTX__CONF_STATE_JOURNAL, "state.journal", "false",
             "kafkatx: also journal each transaction's records' positions, so that the restart "
             "report can list what the last transaction held. Needs state.path."),
};

/* Names from Java's producer that mean something else here. */
static const struct {
    const char *java;
    const char *ours;
} java_names[] = {
    {"ssl.truststore.location", "ssl.ca.location"},
    {"ssl.truststore.certificates", "ssl.ca.pem"},
    {"ssl.keystore.location", "ssl.certificate.location"},
    {"ssl.keystore.certificate.chain", "ssl.certificate.pem"},
    {"ssl.keystore.key", "ssl.key.pem"},
    {"sasl.jaas.config", "sasl.username"},
    {"compression.gzip.level", "compression.zstd.level"},
    {"compression.lz4.level", "compression.zstd.level"},
};

struct ktx_conf {
    char *val[KTX__CONF_COUNT]; /* canonical text, or NULL when not set */
    ktx_dr_cb_t dr_cb;          /* delivery-report callback, or NULL */
    void *dr_opaque;
    ktx_log_cb_t log_cb;        /* log callback, or NULL */
    void *log_opaque;
};

const struct ktx__conf_prop *ktx__conf_props(size_t *count)
{
    *count = KTX__CONF_COUNT;
    return props;
}

const struct ktx__conf_prop *ktx__conf_find(const char *name)
{
    for (size_t i = 0; i < KTX__CONF_COUNT; i++)
        if (strcmp(props[i].name, name) == 0)
            return &props[i];
    return NULL;
}

/* The slot a row stores its value in: its own, or its alias target's. */
static size_t slot_of(const struct ktx__conf_prop *prop)
{
    return prop->alias_of >= 0 ? (size_t)prop->alias_of : (size_t)(prop - props);
}

const char *ktx__conf_text(const ktx_conf_t *conf, enum ktx__conf_id id)
{
    return conf->val[id] ? conf->val[id] : props[id].def;
}

bool ktx__conf_is_set(const ktx_conf_t *conf, enum ktx__conf_id id)
{
    return conf && conf->val[id] != NULL;
}

/* ---- messages ---- */

/* Copies |s| into |dst| (at least ECHO_MAX + 4 bytes) for a message: at most ECHO_MAX
 * characters, then "..." when longer; control characters become '?'. */
static void echo(char *dst, const char *s)
{
    size_t n = 0;

    for (; s[n] && n < ECHO_MAX; n++)
        dst[n] = iscntrl((unsigned char)s[n]) ? '?' : s[n];
    if (s[n]) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
}

/* Writes the accepted values of |prop| in words into |buf|. */
static void describe_range(const struct ktx__conf_prop *prop, char *buf, size_t size)
{
    size_t off = 0;

    switch (prop->type) {
    case KTX__CONF_INT:
        snprintf(buf, size, "an integer from %lld to %lld", (long long)prop->min,
                 (long long)prop->max);
        return;
    case KTX__CONF_BOOL:
        snprintf(buf, size, "true or false");
        return;
    case KTX__CONF_ENUM:
        off = (size_t)snprintf(buf, size, "one of");
        for (size_t i = 0; prop->values[i] && off < size; i++)
            off += (size_t)snprintf(buf + off, size - off, "%s %s", i ? "," : "",
                                    prop->values[i]);
        return;
    case KTX__CONF_STR:
        snprintf(buf, size, "%s", prop->range ? prop->range
                                  : prop->flags & KTX__CONF_F_PEM ? "PEM text (-----BEGIN ...)"
                                  : "text without control characters");
        return;
    }
}

/* Builds the KTX_ERR_BAD_CONFIG error for |value| of |prop|; |why| may be NULL. */
static ktx_error_t *bad_value(const struct ktx__conf_prop *prop, const char *value,
                              const char *why)
{
    char range[160], shown[ECHO_MAX + 8];

    describe_range(prop, range, sizeof(range));
    if (prop->flags & KTX__CONF_F_SECRET)
        return ktx__error_new(KTX_ERR_BAD_CONFIG, 0,
                              "Invalid value for configuration property \"%s\" (not shown: "
                              "secret)%s%s; expected %s",
                              prop->name, why ? ": " : "", why ? why : "", range);
    echo(shown, value);
    return ktx__error_new(KTX_ERR_BAD_CONFIG, 0,
                          "Invalid value \"%s\" for configuration property \"%s\"%s%s; "
                          "expected %s",
                          shown, prop->name, why ? ": " : "", why ? why : "", range);
}

/* Levenshtein distance between |a| and |b|, capped at 64 for long strings. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];

    if (la > 64 || lb > 64)
        return 64;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = KTX__MIN(KTX__MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
            diag = up;
        }
    }
    return row[lb];
}

/* Returns the property name closest to |name| when it is close enough, or NULL. */
static const char *suggest(const char *name)
{
    size_t best = SIZE_MAX, limit = KTX__MAX(2, strlen(name) / 4);
    const char *found = NULL;

    for (size_t i = 0; i < KTX__ARRAY_LEN(java_names); i++)
        if (strcmp(java_names[i].java, name) == 0)
            return java_names[i].ours;
    for (size_t i = 0; i < KTX__CONF_COUNT; i++) {
        size_t d = distance(name, props[i].name);
        if (d < best) {
            best = d;
            found = props[i].name;
        }
    }
    return best <= limit ? found : NULL;
}

static ktx_error_t *unknown_property(const char *name)
{
    const char *close = suggest(name);
    char shown[ECHO_MAX + 8];

    echo(shown, name);
    if (close)
        return ktx__error_new(KTX_ERR_UNKNOWN_PROPERTY, 0,
                              "No configuration property is named \"%s\"; did you mean \"%s\"?",
                              shown, close);
    return ktx__error_new(KTX_ERR_UNKNOWN_PROPERTY, 0,
                          "No configuration property is named \"%s\" (docs/configuration.md "
                          "lists them all)",
                          shown);
}

/* ---- value checks ---- */

/* Parses a strict decimal integer: optional '-', digits, nothing else. */
static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (!(*s == '-' || isdigit((unsigned char)*s)))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* True when |s| has no control characters (line breaks allowed when |lines|). */
static bool clean_text(const char *s, bool lines)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (iscntrl(c) && !(lines && (c == '\n' || c == '\r' || c == '\t')))
            return false;
    }
    return true;
}

/* Checks one host:port entry of |len| bytes at |s|. */
static bool server_ok(const char *s, size_t len)
{
    const char *colon;
    size_t host_len;
    int64_t port;
    char num[8];

    while (len && *s == ' ')
        s++, len--;
    while (len && s[len - 1] == ' ')
        len--;
    colon = len ? memrchr(s, ':', len) : NULL;
    if (!colon)
        return false;
    host_len = (size_t)(colon - s);
    if (host_len == 0 || (s[0] == '[' && (host_len < 3 || s[host_len - 1] != ']')))
        return false;
    if (s[0] != '[' && memchr(s, ':', host_len))
        return false; /* an IPv6 address needs brackets */
    if (len - host_len - 1 == 0 || len - host_len - 1 >= sizeof(num))
        return false;
    memcpy(num, colon + 1, len - host_len - 1);
    num[len - host_len - 1] = '\0';
    return num[0] != '-' && parse_int(num, &port) && port >= 1 && port <= 65535;
}

static const char *check_servers(const char *value)
{
    const char *p = value;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!server_ok(p, len))
            return "each entry must be host:port with a port from 1 to 65535";
        if (!comma)
            return NULL;
        p = comma + 1;
    }
}

static const char *check_name(const char *value)
{
    size_t len = strlen(value);

    if (len > 249)
        return "longer than 249 characters";
    for (const char *p = value; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return "only letters, digits, '.', '_' and '-' are allowed";
    return NULL;
}

/* Index of |value| in |values| (case-insensitive), or -1. */
static int enum_index(const char *const *values, const char *value)
{
    for (int i = 0; values && values[i]; i++)
        if (strcasecmp(values[i], value) == 0)
            return i;
    return -1;
}

int ktx__conf_enum_index(const ktx_conf_t *conf, enum ktx__conf_id id)
{
    const char *text = ktx__conf_text(conf, id);
    return text ? enum_index(props[id].values, text) : -1;
}

/* Validates |value| for |prop| and stores its canonical text in |*canon| (malloc'ed). */
static ktx_error_t *canonicalize(const struct ktx__conf_prop *prop, const char *value,
                                 char **canon)
{
    char buf[32];
    const char *text = value, *why;
    int64_t v;
    int i;

    switch (prop->type) {
    case KTX__CONF_INT:
        if (!parse_int(value, &v) || v < prop->min || v > prop->max)
            return bad_value(prop, value, NULL);
        snprintf(buf, sizeof(buf), "%lld", (long long)v);
        text = buf;
        break;
    case KTX__CONF_BOOL:
        if (strcasecmp(value, "true") != 0 && strcasecmp(value, "false") != 0)
            return bad_value(prop, value, NULL);
        text = strcasecmp(value, "true") == 0 ? "true" : "false";
        break;
    case KTX__CONF_ENUM:
        i = enum_index(prop->values, value);
        if (i < 0)
            return bad_value(prop, value, NULL);
        if (enum_index(prop->unsupported, value) >= 0)
            return ktx__error_new(KTX_ERR_BAD_CONFIG, 0,
                                  "Configuration property \"%s\": \"%s\" is a valid Kafka value "
                                  "but is not supported by kafkatx yet",
                                  prop->name, prop->values[i]);
        text = prop->values[i];
        break;
    case KTX__CONF_STR:
        if (!clean_text(value, prop->flags & KTX__CONF_F_PEM))
            return bad_value(prop, value, "control characters are not allowed");
        if (!value[0] && !(prop->flags & KTX__CONF_F_EMPTY_OK))
            return bad_value(prop, value, "the value is empty (pass NULL to unset)");
        if ((prop->flags & KTX__CONF_F_PEM) && !strstr(value, "-----BEGIN "))
            return bad_value(prop, value, "no PEM block found");
        why = prop->check ? prop->check(value) : NULL;
        if (why)
            return bad_value(prop, value, why);
        break;
    }
    *canon = strdup(text);
    return *canon ? NULL : ktx__error_oom();
}

/* ---- public API ---- */

ktx_conf_t *ktx_conf_new(void)
{
    return calloc(1, sizeof(struct ktx_conf));
}

void ktx_conf_destroy(ktx_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < KTX__CONF_COUNT; i++)
        free(conf->val[i]);
    free(conf);
}

ktx_conf_t *ktx_conf_dup(const ktx_conf_t *conf)
{
    ktx_conf_t *copy;

    if (!conf || !(copy = ktx_conf_new()))
        return NULL;
    for (size_t i = 0; i < KTX__CONF_COUNT; i++) {
        if (conf->val[i] && !(copy->val[i] = strdup(conf->val[i]))) {
            ktx_conf_destroy(copy);
            return NULL;
        }
    }
    copy->dr_cb = conf->dr_cb;
    copy->dr_opaque = conf->dr_opaque;
    copy->log_cb = conf->log_cb;
    copy->log_opaque = conf->log_opaque;
    return copy;
}

void ktx_conf_set_dr_cb(ktx_conf_t *conf, ktx_dr_cb_t cb, void *opaque)
{
    if (!conf)
        return;
    conf->dr_cb = cb;
    conf->dr_opaque = cb ? opaque : NULL;
}

void ktx_conf_set_log_cb(ktx_conf_t *conf, ktx_log_cb_t cb, void *opaque)
{
    if (!conf)
        return;
    conf->log_cb = cb;
    conf->log_opaque = cb ? opaque : NULL;
}

ktx_dr_cb_t ktx__conf_dr_cb(const ktx_conf_t *conf, void **opaque)
{
    *opaque = conf->dr_opaque;
    return conf->dr_cb;
}

ktx_log_cb_t ktx__conf_log_cb(const ktx_conf_t *conf, void **opaque)
{
    *opaque = conf->log_opaque;
    return conf->log_cb;
}

ktx_error_t *ktx_conf_set(ktx_conf_t *conf, const char *name, const char *value)
{
    const struct ktx__conf_prop *prop;
    char *canon = NULL;
    ktx_error_t *err;
    size_t slot;

    if (!conf || !name)
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0, "ktx_conf_set: %s is NULL",
                              conf ? "name" : "conf");
    prop = ktx__conf_find(name);
    if (!prop)
        return unknown_property(name);
    if (value && (err = canonicalize(prop, value, &canon)) != NULL)
        return err;
    slot = slot_of(prop);
    free(conf->val[slot]);
    conf->val[slot] = canon;
    return NULL;
}

ktx_error_t *ktx_conf_get(const ktx_conf_t *conf, const char *name, char *buf, size_t *size)
{
    const struct ktx__conf_prop *prop;
    const char *text;
    size_t len;

    if (!conf || !name || !size || (!buf && *size))
        return ktx__error_new(KTX_ERR_INVALID_ARG, 0,
                              "ktx_conf_get: conf, name and size must not be NULL, nor buf "
                              "when *size > 0");
    prop = ktx__conf_find(name);
    if (!prop)
        return unknown_property(name);
    text = ktx__conf_text(conf, (enum ktx__conf_id)slot_of(prop));
    if (prop->flags & KTX__CONF_F_SECRET)
        text = conf->val[slot_of(prop)] ? "[redacted]" : "";
    if (!text)
        text = "";
    len = strlen(text);
    if (*size) {
        size_t n = KTX__MIN(len, *size - 1);
        memcpy(buf, text, n);
        buf[n] = '\0';
    }
    *size = len + 1;
    return NULL;
}

ktx_error_t *ktx_conf_validate(const ktx_conf_t *conf)
{
    struct ktx__conf_values values;
    char why[512];
    int rc = ktx__conf_resolve(conf, &values, why, sizeof(why));

    if (rc == 0)
        return NULL;
    return ktx__error_new(rc, 0, "%s", why);
}

/* ---- typed view and cross-property rules ---- */

/* The effective integer value of |id| (the table guarantees it parses). */
static int64_t int_of(const ktx_conf_t *conf, enum ktx__conf_id id)
{
    int64_t v = 0;
    const char *text = ktx__conf_text(conf, id);
    if (text)
        parse_int(text, &v);
    return v;
}

static bool bool_of(const ktx_conf_t *conf, enum ktx__conf_id id)
{
    const char *text = ktx__conf_text(conf, id);
    return text && strcmp(text, "true") == 0;
}

/* a + b without overflow (both non-negative). */
static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Fills the plain values of |out| straight from the table. */
static void resolve_plain(const ktx_conf_t *conf, struct ktx__conf_values *out)
{
    static const int acks_map[] = {-1, -1, 0, 1};
    static const enum ktx__sasl_mechanism sasl_map[] = {KTX__SASL_PLAIN, KTX__SASL_SCRAM_SHA_256,
                                                        KTX__SASL_SCRAM_SHA_512, KTX__SASL_GSSAPI};
    int sasl = ktx__conf_enum_index(conf, KTX__CONF_SASL_MECHANISM);

    memset(out, 0, sizeof(*out));
    out->bootstrap_servers = ktx__conf_text(conf, KTX__CONF_BOOTSTRAP_SERVERS);
    out->client_id = ktx__conf_text(conf, KTX__CONF_CLIENT_ID);
    out->acks = acks_map[ktx__conf_enum_index(conf, KTX__CONF_ACKS)];
    out->enable_idempotence = bool_of(conf, KTX__CONF_ENABLE_IDEMPOTENCE);
    out->transactional_id = ktx__conf_text(conf, KTX__CONF_TRANSACTIONAL_ID);
    out->transaction_timeout_ms = int_of(conf, KTX__CONF_TRANSACTION_TIMEOUT_MS);
    out->linger_ms = int_of(conf, KTX__CONF_LINGER_MS);
    out->batch_size = int_of(conf, KTX__CONF_BATCH_SIZE);
    out->buffer_memory = int_of(conf, KTX__CONF_BUFFER_MEMORY);
    out->max_block_ms = int_of(conf, KTX__CONF_MAX_BLOCK_MS);
    out->max_in_flight = int_of(conf, KTX__CONF_MAX_IN_FLIGHT);
    out->retries = int_of(conf, KTX__CONF_RETRIES);
    out->retry_backoff_ms = int_of(conf, KTX__CONF_RETRY_BACKOFF_MS);
    out->retry_backoff_max_ms = KTX__MAX(int_of(conf, KTX__CONF_RETRY_BACKOFF_MAX_MS),
                                         out->retry_backoff_ms);
    out->delivery_timeout_ms = int_of(conf, KTX__CONF_DELIVERY_TIMEOUT_MS);
    out->request_timeout_ms = int_of(conf, KTX__CONF_REQUEST_TIMEOUT_MS);
    out->metadata_max_age_ms = int_of(conf, KTX__CONF_METADATA_MAX_AGE_MS);
    out->reconnect_backoff_ms = int_of(conf, KTX__CONF_RECONNECT_BACKOFF_MS);
    out->reconnect_backoff_max_ms = KTX__MAX(int_of(conf, KTX__CONF_RECONNECT_BACKOFF_MAX_MS),
                                             out->reconnect_backoff_ms);
    /* The values are listed in Kafka's codec id order: none=0 ... zstd=4. */
    out->compression_type = ktx__conf_enum_index(conf, KTX__CONF_COMPRESSION_TYPE);
    out->compression_zstd_level = (int)int_of(conf, KTX__CONF_COMPRESSION_ZSTD_LEVEL);
    out->max_request_size = int_of(conf, KTX__CONF_MAX_REQUEST_SIZE);
    out->partitioner_ignore_keys = bool_of(conf, KTX__CONF_PARTITIONER_IGNORE_KEYS);
    out->socket_connection_setup_timeout_ms =
        int_of(conf, KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MS);
    out->socket_connection_setup_timeout_max_ms =
        KTX__MAX(int_of(conf, KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS),
                 out->socket_connection_setup_timeout_ms);
    out->security_protocol =
        (enum ktx__security_protocol)ktx__conf_enum_index(conf, KTX__CONF_SECURITY_PROTOCOL);
    out->ssl_ca_location = ktx__conf_text(conf, KTX__CONF_SSL_CA_LOCATION);
    out->ssl_ca_pem = ktx__conf_text(conf, KTX__CONF_SSL_CA_PEM);
    out->ssl_certificate_location = ktx__conf_text(conf, KTX__CONF_SSL_CERTIFICATE_LOCATION);
    out->ssl_certificate_pem = ktx__conf_text(conf, KTX__CONF_SSL_CERTIFICATE_PEM);
    out->ssl_key_location = ktx__conf_text(conf, KTX__CONF_SSL_KEY_LOCATION);
    out->ssl_key_pem = ktx__conf_text(conf, KTX__CONF_SSL_KEY_PEM);
    out->ssl_key_password = ktx__conf_text(conf, KTX__CONF_SSL_KEY_PASSWORD);
    out->ssl_cipher_suites = ktx__conf_text(conf, KTX__CONF_SSL_CIPHER_SUITES);
    out->ssl_verify_hostname =
        ktx__conf_enum_index(conf, KTX__CONF_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM) == 0;
    out->sasl_mechanism = sasl < 0 ? KTX__SASL_NONE : sasl_map[sasl];
    out->sasl_username = ktx__conf_text(conf, KTX__CONF_SASL_USERNAME);
    out->sasl_password = ktx__conf_text(conf, KTX__CONF_SASL_PASSWORD);
    out->sasl_kerberos_service_name = ktx__conf_text(conf, KTX__CONF_SASL_KERBEROS_SERVICE_NAME);
    out->sasl_kerberos_principal = ktx__conf_text(conf, KTX__CONF_SASL_KERBEROS_PRINCIPAL);
    out->sasl_kerberos_keytab = ktx__conf_text(conf, KTX__CONF_SASL_KERBEROS_KEYTAB);
    out->state_path = ktx__conf_text(conf, KTX__CONF_STATE_PATH);
    out->state_producer_name = ktx__conf_text(conf, KTX__CONF_STATE_PRODUCER_NAME);
    out->state_sync = (enum ktx__state_sync)ktx__conf_enum_index(conf, KTX__CONF_STATE_SYNC);
    out->state_journal = bool_of(conf, KTX__CONF_STATE_JOURNAL);
}

/* Formats a rule violation into |errbuf| and returns KTX_ERR_BAD_CONFIG. */
static int rule_failed(char *errbuf, size_t errsize, const char *fmt, ...) KTX__PRINTF(3, 4);
static int rule_failed(char *errbuf, size_t errsize, const char *fmt, ...)
{
    va_list ap;

    if (errbuf && errsize) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errsize, fmt, ap);
        va_end(ap);
    }
    return KTX_ERR_BAD_CONFIG;
}

/* The property that keeps idempotence from working, or NULL when none does. */
static const char *idempotence_conflict(const struct ktx__conf_values *v)
{
    if (v->acks != -1)
        return "acks=all (acks is 0 or 1)";
    if (v->max_in_flight > 5)
        return "max.in.flight.requests.per.connection <= 5";
    if (v->retries == 0)
        return "retries > 0";
    return NULL;
}

/*
 * Kafka's idempotence rules: an explicit enable.idempotence=true conflicting with acks,
 * max.in.flight or retries is an error; an implicit (default) one is turned off instead.
 * A transactional.id needs idempotence either way.
 */
static int check_idempotence(const ktx_conf_t *conf, struct ktx__conf_values *v, char *errbuf,
                             size_t errsize)
{
    const char *conflict = idempotence_conflict(v);
    bool explicit = ktx__conf_is_set(conf, KTX__CONF_ENABLE_IDEMPOTENCE);

    if (v->enable_idempotence && conflict) {
        if (explicit)
            return rule_failed(errbuf, errsize,
                               "enable.idempotence=true requires %s; change that property or "
                               "set enable.idempotence=false", conflict);
        v->enable_idempotence = false;
    }
    if (v->transactional_id && !v->enable_idempotence)
        return rule_failed(errbuf, errsize,
                           "transactional.id requires idempotence, but %s",
                           explicit ? "enable.idempotence=false"
                                    : "acks, max.in.flight.requests.per.connection or retries "
                                      "turn it off");
    return 0;
}

/* delivery.timeout.ms >= linger.ms + request.timeout.ms; an unset one is raised (as Java). */
static int check_timeouts(const ktx_conf_t *conf, struct ktx__conf_values *v, char *errbuf,
                          size_t errsize)
{
    int64_t floor = sat_add(v->linger_ms, v->request_timeout_ms);

    if (v->delivery_timeout_ms < floor) {
        if (ktx__conf_is_set(conf, KTX__CONF_DELIVERY_TIMEOUT_MS))
            return rule_failed(errbuf, errsize,
                               "delivery.timeout.ms (%lld) must be at least linger.ms + "
                               "request.timeout.ms (%lld)",
                               (long long)v->delivery_timeout_ms, (long long)floor);
        v->delivery_timeout_ms = floor;
    }
    if (v->batch_size > v->max_request_size)
        return rule_failed(errbuf, errsize,
                           "batch.size (%lld) must not exceed max.request.size (%lld)",
                           (long long)v->batch_size, (long long)v->max_request_size);
    return 0;
}

static int check_sasl(const struct ktx__conf_values *v, char *errbuf, size_t errsize)
{
    bool sasl = v->security_protocol == KTX__SECURITY_SASL_PLAINTEXT ||
                v->security_protocol == KTX__SECURITY_SASL_SSL;

    if (!sasl) {
        if (v->sasl_mechanism != KTX__SASL_NONE)
            return rule_failed(errbuf, errsize,
                               "sasl.mechanism is set but security.protocol is %s; use "
                               "SASL_PLAINTEXT or SASL_SSL",
                               security_values[v->security_protocol]);
        return 0;
    }
    if (v->sasl_mechanism == KTX__SASL_NONE)
        return rule_failed(errbuf, errsize,
                           "security.protocol=%s requires sasl.mechanism (PLAIN, SCRAM-SHA-256, "
                           "SCRAM-SHA-512 or GSSAPI)",
                           security_values[v->security_protocol]);
    if (v->sasl_mechanism != KTX__SASL_GSSAPI && (!v->sasl_username || !v->sasl_password))
        return rule_failed(errbuf, errsize, "sasl.mechanism=%s requires sasl.username and "
                           "sasl.password", sasl_values[v->sasl_mechanism - 1]);
    return 0;
}

static int check_ssl(const struct ktx__conf_values *v, char *errbuf, size_t errsize)
{
    bool key = v->ssl_key_location || v->ssl_key_pem;
    bool cert = v->ssl_certificate_location || v->ssl_certificate_pem;

    if (v->ssl_key_location && v->ssl_key_pem)
        return rule_failed(errbuf, errsize, "set ssl.key.location or ssl.key.pem, not both");
    if (v->ssl_certificate_location && v->ssl_certificate_pem)
        return rule_failed(errbuf, errsize,
                           "set ssl.certificate.location or ssl.certificate.pem, not both");
    if (v->ssl_ca_location && v->ssl_ca_pem)
        return rule_failed(errbuf, errsize, "set ssl.ca.location or ssl.ca.pem, not both");
    if (key && !cert)
        return rule_failed(errbuf, errsize, "an SSL key (ssl.key.location or ssl.key.pem) "
                           "requires a certificate (ssl.certificate.location or "
                           "ssl.certificate.pem)");
    if (cert && !key)
        return rule_failed(errbuf, errsize, "an SSL certificate requires its key "
                           "(ssl.key.location or ssl.key.pem)");
    if (v->ssl_key_password && !key)
        return rule_failed(errbuf, errsize,
                           "ssl.key.password is set but no key (ssl.key.location or "
                           "ssl.key.pem) is");
    return 0;
}

static int check_state(struct ktx__conf_values *v, char *errbuf, size_t errsize)
{
    if (!v->state_path && v->state_journal)
        return rule_failed(errbuf, errsize, "state.journal=true requires state.path");
    if (!v->state_path && v->state_producer_name)
        return rule_failed(errbuf, errsize, "state.producer.name requires state.path");
    if (!v->state_producer_name)
        v->state_producer_name = v->transactional_id ? v->transactional_id
                                 : v->client_id[0]   ? v->client_id
                                                     : "default";
    return 0;
}

int ktx__conf_resolve(const ktx_conf_t *conf, struct ktx__conf_values *out, char *errbuf,
                      size_t errsize)
{
    int rc;

    if (errbuf && errsize)
        errbuf[0] = '\0';
    if (!conf || !out) {
        if (errbuf && errsize)
            snprintf(errbuf, errsize, "ktx__conf_resolve: conf and out must not be NULL");
        return KTX_ERR_INVALID_ARG;
    }
    resolve_plain(conf, out);
    if (!out->bootstrap_servers)
        return rule_failed(errbuf, errsize, "bootstrap.servers is required");
    if ((rc = check_idempotence(conf, out, errbuf, errsize)) != 0 ||
        (rc = check_timeouts(conf, out, errbuf, errsize)) != 0 ||
        (rc = check_sasl(out, errbuf, errsize)) != 0 ||
        (rc = check_ssl(out, errbuf, errsize)) != 0 || (rc = check_state(out, errbuf, errsize)) != 0)
        return rc;
    return 0;
}
