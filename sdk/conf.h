/*
 * The configuration object (ktx_conf_t): one table row per property drives ktx_conf_set(),
 * ktx_conf_get(), the cross-property checks and docs/configuration.md (checked by
 * tests/check_conf.c). The producer reads typed values through ktx__conf_resolve().
 */
#ifndef KTX_CONF_H
#define KTX_CONF_H

#include "ktx_int.h"

/* Property identifiers: the index of each row in the table. */
enum ktx__conf_id {
    KTX__CONF_BOOTSTRAP_SERVERS,
    KTX__CONF_CLIENT_ID,
    KTX__CONF_ACKS,
    KTX__CONF_ENABLE_IDEMPOTENCE,
    KTX__CONF_TRANSACTIONAL_ID,
    KTX__CONF_TRANSACTION_TIMEOUT_MS,
    KTX__CONF_LINGER_MS,
    KTX__CONF_BATCH_SIZE,
    KTX__CONF_BUFFER_MEMORY,
    KTX__CONF_MAX_BLOCK_MS,
    KTX__CONF_MAX_IN_FLIGHT,
    KTX__CONF_RETRIES,
    KTX__CONF_RETRY_BACKOFF_MS,
    KTX__CONF_RETRY_BACKOFF_MAX_MS,
    KTX__CONF_DELIVERY_TIMEOUT_MS,
    KTX__CONF_REQUEST_TIMEOUT_MS,
    KTX__CONF_METADATA_MAX_AGE_MS,
    KTX__CONF_RECONNECT_BACKOFF_MS,
    KTX__CONF_RECONNECT_BACKOFF_MAX_MS,
    KTX__CONF_COMPRESSION_TYPE,
    KTX__CONF_COMPRESSION_ZSTD_LEVEL,
    KTX__CONF_COMPRESSION_LEVEL,
    KTX__CONF_MAX_REQUEST_SIZE,
    KTX__CONF_PARTITIONER_IGNORE_KEYS,
    KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MS,
    KTX__CONF_SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS,
    KTX__CONF_SECURITY_PROTOCOL,
    KTX__CONF_SSL_CA_LOCATION,
    KTX__CONF_SSL_CA_PEM,
    KTX__CONF_SSL_CERTIFICATE_LOCATION,
    KTX__CONF_SSL_CERTIFICATE_PEM,
    KTX__CONF_SSL_KEY_LOCATION,
    KTX__CONF_SSL_KEY_PEM,
    KTX__CONF_SSL_KEY_PASSWORD,
    KTX__CONF_SSL_CIPHER_SUITES,
    KTX__CONF_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM,
    KTX__CONF_SASL_MECHANISM,
    KTX__CONF_SASL_USERNAME,
    KTX__CONF_SASL_PASSWORD,
    KTX__CONF_SASL_KERBEROS_SERVICE_NAME,
    KTX__CONF_SASL_KERBEROS_PRINCIPAL,
    KTX__CONF_SASL_KERBEROS_KEYTAB,
    KTX__CONF_STATE_PATH,
    KTX__CONF_STATE_PRODUCER_NAME,
    KTX__CONF_STATE_SYNC,
    KTX__CONF_STATE_JOURNAL,
    KTX__CONF_COUNT
};

enum ktx__conf_type {
    KTX__CONF_STR,  /* any text without control characters (PEM rows allow line breaks) */
    KTX__CONF_INT,  /* a decimal integer within [min, max] */
    KTX__CONF_BOOL, /* "true" or "false", in any case */
    KTX__CONF_ENUM  /* one of |values|, in any case; stored in the table's spelling */
};

#define KTX__CONF_F_SECRET 0x1u   /* never echoed in messages, read back as "[redacted]" */
#define KTX__CONF_F_PEM 0x2u      /* PEM text: must contain "-----BEGIN "; may span lines */
#define KTX__CONF_F_EMPTY_OK 0x4u /* the empty string is a valid value */

/* One property. The table is static and lives forever. */
struct ktx__conf_prop {
    const char *name;                /* Kafka's name where Kafka has the property */
    enum ktx__conf_type type;
    const char *def;                 /* default as text, or NULL for "not set" */
    int64_t min, max;                /* KTX__CONF_INT only */
    const char *const *values;       /* KTX__CONF_ENUM: NULL-terminated accepted values */
    const char *const *unsupported;  /* KTX__CONF_ENUM: valid Kafka values not supported yet */
    unsigned flags;                  /* KTX__CONF_F_* */
    int alias_of;                    /* the row this name is another name for, or -1; an
                                        alias reads and writes that row's value */
    const char *(*check)(const char *value); /* extra check: NULL, or why |value| is invalid */
    const char *range;               /* accepted values in words, for messages and the doc */
    const char *desc;                /* one or two sentences for docs/configuration.md */
};

/* Returns the table (indexed by enum ktx__conf_id) and stores its length in |*count|. */
const struct ktx__conf_prop *ktx__conf_props(size_t *count);

/* Returns the row named |name|, or NULL. Thread-safe. */
const struct ktx__conf_prop *ktx__conf_find(const char *name);

/* kafkatx's values for the enumerations (resolved from the text values). */
enum ktx__security_protocol {
    KTX__SECURITY_PLAINTEXT,
    KTX__SECURITY_SSL,
    KTX__SECURITY_SASL_PLAINTEXT,
    KTX__SECURITY_SASL_SSL
};
enum ktx__sasl_mechanism {
    KTX__SASL_NONE, /* sasl.mechanism not set */
    KTX__SASL_PLAIN,
    KTX__SASL_SCRAM_SHA_256,
    KTX__SASL_SCRAM_SHA_512,
    KTX__SASL_GSSAPI
};
enum ktx__state_sync { KTX__STATE_SYNC_NORMAL, KTX__STATE_SYNC_FULL };

/*
 * The typed, cross-checked configuration the producer runs with. Strings are NULL when the
 * property is not set (client_id is "" by default); they are borrowed from the ktx_conf_t (or
 * static defaults) and live as long as the conf they were resolved from.
 */
struct ktx__conf_values {
    const char *bootstrap_servers;
    const char *client_id;
    int acks;                      /* -1 (all), 0 or 1 */
    bool enable_idempotence;       /* effective: false when implicitly disabled (see docs) */
    const char *transactional_id;
    int64_t transaction_timeout_ms;
    int64_t linger_ms;
    int64_t batch_size;
    int64_t buffer_memory;
    int64_t max_block_ms;
    int64_t max_in_flight;         /* max.in.flight.requests.per.connection */
    int64_t retries;
    int64_t retry_backoff_ms;
    int64_t retry_backoff_max_ms;  /* never below retry_backoff_ms */
    int64_t delivery_timeout_ms;   /* effective: raised to linger + request timeout if unset */
    int64_t request_timeout_ms;
    int64_t metadata_max_age_ms;
    int64_t reconnect_backoff_ms;
    int64_t reconnect_backoff_max_ms; /* never below reconnect_backoff_ms */
    int compression_type;          /* Kafka's codec id: 0 none, 4 zstd (KTX__COMPRESSION_*) */
    int compression_zstd_level;
    int64_t max_request_size;
    bool partitioner_ignore_keys;
    int64_t socket_connection_setup_timeout_ms;
    int64_t socket_connection_setup_timeout_max_ms;
    enum ktx__security_protocol security_protocol;
    const char *ssl_ca_location;
    const char *ssl_ca_pem;
    const char *ssl_certificate_location;
    const char *ssl_certificate_pem;
    const char *ssl_key_location;
    const char *ssl_key_pem;       /* secret */
    const char *ssl_key_password;  /* secret */
    const char *ssl_cipher_suites;
    bool ssl_verify_hostname;      /* ssl.endpoint.identification.algorithm=https */
    enum ktx__sasl_mechanism sasl_mechanism;
    const char *sasl_username;
    const char *sasl_password;     /* secret */
    const char *sasl_kerberos_service_name;
    const char *sasl_kerberos_principal;
    const char *sasl_kerberos_keytab;
    const char *state_path;        /* NULL: no persisted state */
    const char *state_producer_name;
    enum ktx__state_sync state_sync;
    bool state_journal;
};

/*
 * Resolves |conf| into typed values in |*out| and checks every cross-property rule.
 * |conf| is borrowed (the strings in |*out| point into it); |errbuf| (|errsize| bytes, may be
 * NULL when |errsize| is 0) receives a message naming the properties when a rule fails.
 * Thread: any, as long as |conf| is not modified meanwhile.
 * Returns 0, KTX_ERR_BAD_CONFIG or KTX_ERR_INVALID_ARG.
 */
int ktx__conf_resolve(const ktx_conf_t *conf, struct ktx__conf_values *out, char *errbuf,
                      size_t errsize);

/* True when property |id| was set explicitly (not left at its default). */
bool ktx__conf_is_set(const ktx_conf_t *conf, enum ktx__conf_id id);

/* The effective text of property |id| (its default when not set), or NULL when it has
 * neither. Borrowed from |conf| or static; lives until the property changes. */
const char *ktx__conf_text(const ktx_conf_t *conf, enum ktx__conf_id id);

/* The index of the effective value of enum property |id| in its row's |values|, or -1 when
 * it is not set and has no default. */
int ktx__conf_enum_index(const ktx_conf_t *conf, enum ktx__conf_id id);

/* The delivery-report and log callbacks stored by ktx_conf_set_dr_cb() and
 * ktx_conf_set_log_cb(): each returns the callback (NULL when none) and stores its opaque in
 * |*opaque|. |conf| is borrowed. Thread: any, as long as |conf| is not modified meanwhile. */
ktx_dr_cb_t ktx__conf_dr_cb(const ktx_conf_t *conf, void **opaque);
ktx_log_cb_t ktx__conf_log_cb(const ktx_conf_t *conf, void **opaque);

#endif /* KTX_CONF_H */
