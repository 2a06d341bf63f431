/*
 * Unit tests for the configuration object (sdk/conf.c): validation on set, get, dup, the
 * typed view with its cross-property rules, and docs/configuration.md matching the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "conf.h"
#include "error.h"

static const char test_pem[] = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

/* Sets |name| to |value| and fails the test on error. */
static void set_ok(ktx_conf_t *conf, const char *name, const char *value)
{
    ktx_error_t *err = ktx_conf_set(conf, name, value);
    ck_assert_msg(err == NULL, "%s=%s: %s", name, value ? value : "(null)", ktx_error_message(err));
}

/* Sets |name| to |value|, expects |code| and returns the error (caller destroys it). */
static ktx_error_t *set_fails(ktx_conf_t *conf, const char *name, const char *value, int code)
{
    ktx_error_t *err = ktx_conf_set(conf, name, value);
    ck_assert_msg(err != NULL, "%s accepted a bad value", name);
    ck_assert_msg(ktx_error_code(err) == code, "%s: got %s: %s", name, ktx_error_name(err),
                  ktx_error_message(err));
    return err;
}

/* Returns the value of |name| in a static buffer. */
static const char *get(const ktx_conf_t *conf, const char *name)
{
    static char buf[1024];
    size_t size = sizeof(buf);
    ktx_error_t *err = ktx_conf_get(conf, name, buf, &size);

    ck_assert_msg(err == NULL, "get %s: %s", name, ktx_error_message(err));
    ck_assert_uint_le(size, sizeof(buf));
    return buf;
}

/* A conf that passes validation: bootstrap.servers set, all else default. */
static ktx_conf_t *minimal_conf(void)
{
    ktx_conf_t *conf = ktx_conf_new();
    ck_assert_ptr_nonnull(conf);
    set_ok(conf, "bootstrap.servers", "localhost:9092");
    return conf;
}

/* Asserts that validation fails with a message containing |needle|. */
static void assert_invalid(const ktx_conf_t *conf, const char *needle)
{
    ktx_error_t *err = ktx_conf_validate(conf);

    ck_assert_msg(err != NULL, "expected a configuration error mentioning %s", needle);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(ktx_error_message(err), needle) != NULL, "\"%s\" lacks \"%s\"",
                  ktx_error_message(err), needle);
    ktx_error_destroy(err);
}

static void assert_valid(const ktx_conf_t *conf)
{
    ktx_error_t *err = ktx_conf_validate(conf);
    ck_assert_msg(err == NULL, "unexpected: %s", ktx_error_message(err));
}

/* A valid value for string row |prop|. */
static const char *valid_text(const struct ktx__conf_prop *prop)
{
    if (strcmp(prop->name, "bootstrap.servers") == 0)
        return "b1:9092, [::1]:9093,b3.example.com:19092";
    if (prop->flags & KTX__CONF_F_PEM)
        return test_pem;
    return "some_name-1.x";
}

START_TEST(test_conf_defaults_follow_kafka)
{
    ktx_conf_t *conf = ktx_conf_new();

    ck_assert_str_eq(get(conf, "acks"), "all");
    ck_assert_str_eq(get(conf, "enable.idempotence"), "true");
    ck_assert_str_eq(get(conf, "linger.ms"), "5");
    ck_assert_str_eq(get(conf, "batch.size"), "16384");
    ck_assert_str_eq(get(conf, "buffer.memory"), "33554432");
    ck_assert_str_eq(get(conf, "max.block.ms"), "60000");
    ck_assert_str_eq(get(conf, "max.in.flight.requests.per.connection"), "5");
    ck_assert_str_eq(get(conf, "retries"), "2147483647");
    ck_assert_str_eq(get(conf, "retry.backoff.ms"), "100");
    ck_assert_str_eq(get(conf, "retry.backoff.max.ms"), "1000");
    ck_assert_str_eq(get(conf, "delivery.timeout.ms"), "120000");
    ck_assert_str_eq(get(conf, "request.timeout.ms"), "30000");
    ck_assert_str_eq(get(conf, "transaction.timeout.ms"), "60000");
    ck_assert_str_eq(get(conf, "metadata.max.age.ms"), "300000");
    ck_assert_str_eq(get(conf, "reconnect.backoff.ms"), "50");
    ck_assert_str_eq(get(conf, "reconnect.backoff.max.ms"), "1000");
    ck_assert_str_eq(get(conf, "max.request.size"), "1048576");
    ck_assert_str_eq(get(conf, "compression.type"), "none");
    ck_assert_str_eq(get(conf, "security.protocol"), "PLAINTEXT");
    ck_assert_str_eq(get(conf, "ssl.endpoint.identification.algorithm"), "https");
    ck_assert_str_eq(get(conf, "sasl.kerberos.service.name"), "kafka");
    ck_assert_str_eq(get(conf, "state.sync"), "normal");
    ck_assert_str_eq(get(conf, "transactional.id"), "");
    ck_assert_str_eq(get(conf, "sasl.mechanism"), "");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_resolve_gives_typed_defaults)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;
    char why[256];

    ck_assert_int_eq(ktx__conf_resolve(conf, &v, why, sizeof(why)), 0);
    ck_assert_str_eq(v.bootstrap_servers, "localhost:9092");
    ck_assert_str_eq(v.client_id, "");
    ck_assert_int_eq(v.acks, -1);
    ck_assert(v.enable_idempotence);
    ck_assert_ptr_null(v.transactional_id);
    ck_assert_int_eq(v.linger_ms, 5);
    ck_assert_int_eq(v.delivery_timeout_ms, 120000);
    ck_assert_int_eq(v.max_in_flight, 5);
    ck_assert_int_eq(v.retries, 2147483647);
    ck_assert_int_eq(v.compression_type, 0);
    ck_assert_int_eq(v.compression_zstd_level, 3);
    ck_assert_int_eq(v.security_protocol, KTX__SECURITY_PLAINTEXT);
    ck_assert(v.ssl_verify_hostname);
    ck_assert_int_eq(v.sasl_mechanism, KTX__SASL_NONE);
    ck_assert_ptr_null(v.sasl_password);
    ck_assert_ptr_null(v.state_path);
    ck_assert_str_eq(v.state_producer_name, "default");
    ck_assert_int_eq(v.state_sync, KTX__STATE_SYNC_NORMAL);
    ck_assert(!v.state_journal);
    ck_assert_int_eq(v.socket_connection_setup_timeout_ms, 10000);
    ck_assert_int_eq(v.socket_connection_setup_timeout_max_ms, 30000);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_resolve_maps_enum_values)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    set_ok(conf, "enable.idempotence", "false");
    set_ok(conf, "acks", "1");
    set_ok(conf, "compression.type", "ZSTD");
    set_ok(conf, "compression.zstd.level", "-5");
    set_ok(conf, "security.protocol", "sasl_ssl");
    set_ok(conf, "sasl.mechanism", "scram-sha-512");
    set_ok(conf, "sasl.username", "alice");
    set_ok(conf, "sasl.password", "pw");
    set_ok(conf, "ssl.endpoint.identification.algorithm", "none");
    set_ok(conf, "state.path", "/var/lib/app");
    set_ok(conf, "state.sync", "FULL");
    set_ok(conf, "client.id", "billing");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_int_eq(v.acks, 1);
    ck_assert_int_eq(v.compression_type, 4);
    ck_assert_int_eq(v.compression_zstd_level, -5);
    ck_assert_int_eq(v.security_protocol, KTX__SECURITY_SASL_SSL);
    ck_assert_int_eq(v.sasl_mechanism, KTX__SASL_SCRAM_SHA_512);
    ck_assert(!v.ssl_verify_hostname);
    ck_assert_int_eq(v.state_sync, KTX__STATE_SYNC_FULL);
    ck_assert_str_eq(v.state_producer_name, "billing");
    ck_assert_str_eq(get(conf, "compression.type"), "zstd");
    ck_assert_str_eq(get(conf, "security.protocol"), "SASL_SSL");
    set_ok(conf, "acks", "-1");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_int_eq(v.acks, -1);
    set_ok(conf, "acks", "0");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_int_eq(v.acks, 0);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_every_property_accepts_a_valid_value)
{
    size_t count;
    const struct ktx__conf_prop *props = ktx__conf_props(&count);
    char num[32];

    for (size_t i = 0; i < count; i++) {
        const struct ktx__conf_prop *prop = &props[i];
        ktx_conf_t *conf = ktx_conf_new();

        switch (prop->type) {
        case KTX__CONF_INT:
            snprintf(num, sizeof(num), "%lld", (long long)prop->min);
            set_ok(conf, prop->name, num);
            ck_assert_str_eq(get(conf, prop->name), num);
            snprintf(num, sizeof(num), "%lld", (long long)prop->max);
            set_ok(conf, prop->name, num);
            ck_assert_str_eq(get(conf, prop->name), num);
            break;
        case KTX__CONF_BOOL:
            set_ok(conf, prop->name, "FALSE");
            ck_assert_str_eq(get(conf, prop->name), "false");
            set_ok(conf, prop->name, "true");
            ck_assert_str_eq(get(conf, prop->name), "true");
            break;
        case KTX__CONF_ENUM:
            for (size_t j = 0; prop->values[j]; j++) {
                bool unsupported = false;
                for (size_t k = 0; prop->unsupported && prop->unsupported[k]; k++)
                    unsupported |= strcmp(prop->unsupported[k], prop->values[j]) == 0;
                if (unsupported) {
                    ktx_error_destroy(set_fails(conf, prop->name, prop->values[j],
                                                KTX_ERR_BAD_CONFIG));
                    continue;
                }
                set_ok(conf, prop->name, prop->values[j]);
                ck_assert_str_eq(get(conf, prop->name), prop->values[j]);
            }
            break;
        case KTX__CONF_STR:
            set_ok(conf, prop->name, valid_text(prop));
            if (!(prop->flags & KTX__CONF_F_SECRET))
                ck_assert_str_eq(get(conf, prop->name), valid_text(prop));
            break;
        }
        ck_assert_msg(prop->alias_of >= 0 || ktx__conf_is_set(conf, (enum ktx__conf_id)i),
                      "%s", prop->name);
        ktx_conf_destroy(conf);
    }
}
END_TEST

/* Checks that |bad| is rejected for |prop|, the message names the property, and the value is
 * unchanged. */
static void assert_rejected(const struct ktx__conf_prop *prop, const char *bad)
{
    ktx_conf_t *conf = ktx_conf_new();
    char before[1024];
    ktx_error_t *err;

    snprintf(before, sizeof(before), "%s", get(conf, prop->name));
    err = set_fails(conf, prop->name, bad, KTX_ERR_BAD_CONFIG);
    ck_assert_msg(strstr(ktx_error_message(err), prop->name) != NULL, "%s: %s", prop->name,
                  ktx_error_message(err));
    ck_assert_str_eq(get(conf, prop->name), before);
    ck_assert(!ktx__conf_is_set(conf, (enum ktx__conf_id)(prop - ktx__conf_props(&(size_t){0}))));
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
}

START_TEST(test_conf_every_property_rejects_a_bad_value)
{
    size_t count;
    const struct ktx__conf_prop *props = ktx__conf_props(&count);
    char num[32];

    for (size_t i = 0; i < count; i++) {
        const struct ktx__conf_prop *prop = &props[i];

        switch (prop->type) {
        case KTX__CONF_INT:
            assert_rejected(prop, "12x");
            assert_rejected(prop, "");
            assert_rejected(prop, " 1");
            assert_rejected(prop, "99999999999999999999999");
            snprintf(num, sizeof(num), "%lld", (long long)prop->min - 1);
            assert_rejected(prop, num);
            if (prop->max < INT64_MAX) {
                snprintf(num, sizeof(num), "%lld", (long long)prop->max + 1);
                assert_rejected(prop, num);
            }
            break;
        case KTX__CONF_BOOL:
            assert_rejected(prop, "yes please");
            assert_rejected(prop, "1");
            break;
        case KTX__CONF_ENUM:
            assert_rejected(prop, "no-such-value");
            assert_rejected(prop, "");
            break;
        case KTX__CONF_STR:
            assert_rejected(prop, "bad\001value");
            if (!(prop->flags & KTX__CONF_F_EMPTY_OK))
                assert_rejected(prop, "");
            break;
        }
    }
}
END_TEST

START_TEST(test_conf_messages_name_value_and_accepted_values)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err;

    err = set_fails(conf, "acks", "2", KTX_ERR_BAD_CONFIG);
    ck_assert_str_eq(ktx_error_message(err),
                     "Invalid value \"2\" for configuration property \"acks\"; expected one of "
                     "all, -1, 0, 1");
    ktx_error_destroy(err);

    err = set_fails(conf, "linger.ms", "-1", KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "\"-1\""));
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "from 0 to 9223372036854775807"));
    ktx_error_destroy(err);

    err = set_fails(conf, "max.in.flight.requests.per.connection", "0", KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "from 1 to 2147483647"));
    ktx_error_destroy(err);

    err = set_fails(conf, "enable.idempotence", "yes", KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "true or false"));
    ktx_error_destroy(err);

    err = set_fails(conf, "bootstrap.servers", "broker1", KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "host:port"));
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "\"broker1\""));
    ktx_error_destroy(err);

    /* Control characters of a value are not echoed as such. */
    err = set_fails(conf, "client.id", "a\nb", KTX_ERR_BAD_CONFIG);
    ck_assert_ptr_null(strchr(ktx_error_message(err), '\n'));
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_bootstrap_servers_syntax)
{
    static const char *const good[] = {"h:1", "h:65535", "a:1,b:2", " a:1 , b:2 ", "[::1]:9092",
                                       "10.0.0.1:9092"};
    static const char *const bad[] = {"h", "h:", ":9092", "h:0", "h:65536", "h:-1", "a:1,",
                                      "::1:9092", "[]:1", "h:9x", "a:1,,b:2"};
    const struct ktx__conf_prop *prop = ktx__conf_find("bootstrap.servers");
    ktx_conf_t *conf = ktx_conf_new();

    for (size_t i = 0; i < KTX__ARRAY_LEN(good); i++)
        set_ok(conf, "bootstrap.servers", good[i]);
    for (size_t i = 0; i < KTX__ARRAY_LEN(bad); i++)
        assert_rejected(prop, bad[i]);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_compression_other_kafka_codecs_not_supported_yet)
{
    static const char *const codecs[] = {"gzip", "snappy", "lz4", "LZ4"};
    ktx_conf_t *conf = ktx_conf_new();

    for (size_t i = 0; i < KTX__ARRAY_LEN(codecs); i++) {
        ktx_error_t *err = set_fails(conf, "compression.type", codecs[i], KTX_ERR_BAD_CONFIG);
        ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "not supported by kafkatx yet"));
        ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "valid Kafka value"));
        ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "compression.type"));
        ktx_error_destroy(err);
    }
    ck_assert_str_eq(get(conf, "compression.type"), "none");
    set_ok(conf, "compression.type", "zstd");
    ck_assert_str_eq(get(conf, "compression.type"), "zstd");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_unknown_property_suggests_close_name)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err;

    err = set_fails(conf, "lingr.ms", "5", KTX_ERR_UNKNOWN_PROPERTY);
    ck_assert_str_eq(ktx_error_message(err),
                     "No configuration property is named \"lingr.ms\"; did you mean "
                     "\"linger.ms\"?");
    ktx_error_destroy(err);

    err = set_fails(conf, "enable_idempotence", "true", KTX_ERR_UNKNOWN_PROPERTY);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "\"enable.idempotence\"?"));
    ktx_error_destroy(err);

    err = set_fails(conf, "ssl.truststore.location", "/x", KTX_ERR_UNKNOWN_PROPERTY);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "\"ssl.ca.location\"?"));
    ktx_error_destroy(err);

    err = set_fails(conf, "totally.unrelated.thing", "1", KTX_ERR_UNKNOWN_PROPERTY);
    ck_assert_ptr_nonnull(strstr(ktx_error_message(err), "\"totally.unrelated.thing\""));
    ck_assert_ptr_null(strstr(ktx_error_message(err), "did you mean"));
    ktx_error_destroy(err);

    {
        char buf[8];
        size_t size = sizeof(buf);
        err = ktx_conf_get(conf, "lingr.ms", buf, &size);
        ck_assert_int_eq(ktx_error_code(err), KTX_ERR_UNKNOWN_PROPERTY);
        ktx_error_destroy(err);
    }
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_secrets_never_appear_in_messages_or_get)
{
    static const char *const secrets[] = {"sasl.password", "ssl.key.password", "ssl.key.pem"};
    ktx_conf_t *conf = ktx_conf_new();

    for (size_t i = 0; i < KTX__ARRAY_LEN(secrets); i++) {
        ktx_error_t *err = set_fails(conf, secrets[i], "hunter2\001", KTX_ERR_BAD_CONFIG);
        ck_assert_ptr_null(strstr(ktx_error_message(err), "hunter2"));
        ck_assert_ptr_nonnull(strstr(ktx_error_message(err), secrets[i]));
        ktx_error_destroy(err);
        ck_assert_str_eq(get(conf, secrets[i]), "");
    }
    /* A PEM key without a PEM block is rejected without echoing it. */
    {
        ktx_error_t *err = set_fails(conf, "ssl.key.pem", "hunter2", KTX_ERR_BAD_CONFIG);
        ck_assert_ptr_null(strstr(ktx_error_message(err), "hunter2"));
        ktx_error_destroy(err);
    }
    set_ok(conf, "sasl.password", "hunter2");
    set_ok(conf, "ssl.key.password", "hunter2");
    set_ok(conf, "ssl.key.pem", test_pem);
    for (size_t i = 0; i < KTX__ARRAY_LEN(secrets); i++)
        ck_assert_str_eq(get(conf, secrets[i]), "[redacted]");
    ck_assert(ktx__conf_find("sasl.password")->flags & KTX__CONF_F_SECRET);
    ck_assert(!(ktx__conf_find("sasl.username")->flags & KTX__CONF_F_SECRET));
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_get_is_snprintf_like)
{
    ktx_conf_t *conf = ktx_conf_new();
    char buf[4];
    size_t size = 0;
    ktx_error_t *err;

    set_ok(conf, "client.id", "producer-7");
    ck_assert_ptr_null(ktx_conf_get(conf, "client.id", NULL, &size));
    ck_assert_uint_eq(size, 11);
    size = sizeof(buf);
    ck_assert_ptr_null(ktx_conf_get(conf, "client.id", buf, &size));
    ck_assert_uint_eq(size, 11);
    ck_assert_str_eq(buf, "pro");
    err = ktx_conf_get(conf, "client.id", NULL, &(size_t){4});
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    err = ktx_conf_get(NULL, "client.id", buf, &size);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_set_null_resets_to_default_and_canonicalizes)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err;

    set_ok(conf, "linger.ms", "007");
    ck_assert_str_eq(get(conf, "linger.ms"), "7");
    set_ok(conf, "linger.ms", NULL);
    ck_assert_str_eq(get(conf, "linger.ms"), "5");
    ck_assert(!ktx__conf_is_set(conf, KTX__CONF_LINGER_MS));
    set_ok(conf, "enable.idempotence", "True");
    ck_assert_str_eq(get(conf, "enable.idempotence"), "true");
    err = ktx_conf_set(NULL, "linger.ms", "1");
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    err = ktx_conf_set(conf, NULL, "1");
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
    ktx_conf_destroy(NULL);
}
END_TEST

START_TEST(test_conf_compression_level_is_alias_of_zstd_level)
{
    ktx_conf_t *conf = ktx_conf_new();

    set_ok(conf, "compression.level", "9");
    ck_assert_str_eq(get(conf, "compression.zstd.level"), "9");
    set_ok(conf, "compression.zstd.level", "-1");
    ck_assert_str_eq(get(conf, "compression.level"), "-1");
    ktx_error_destroy(set_fails(conf, "compression.level", "23", KTX_ERR_BAD_CONFIG));
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_dup_is_independent)
{
    ktx_conf_t *conf = minimal_conf();
    ktx_conf_t *copy;

    set_ok(conf, "transactional.id", "tx-1");
    set_ok(conf, "sasl.password", "pw");
    copy = ktx_conf_dup(conf);
    ck_assert_ptr_nonnull(copy);
    set_ok(conf, "transactional.id", "tx-2");
    set_ok(conf, "linger.ms", "50");
    ktx_conf_destroy(conf);
    ck_assert_str_eq(get(copy, "transactional.id"), "tx-1");
    ck_assert_str_eq(get(copy, "linger.ms"), "5");
    ck_assert_str_eq(get(copy, "bootstrap.servers"), "localhost:9092");
    ck_assert_str_eq(get(copy, "sasl.password"), "[redacted]");
    ck_assert(!ktx__conf_is_set(copy, KTX__CONF_LINGER_MS));
    ck_assert_ptr_null(ktx_conf_dup(NULL));
    ktx_conf_destroy(copy);
}
END_TEST

START_TEST(test_conf_validate_requires_bootstrap_servers)
{
    ktx_conf_t *conf = ktx_conf_new();
    ktx_error_t *err;

    assert_invalid(conf, "bootstrap.servers");
    set_ok(conf, "bootstrap.servers", "h:1");
    assert_valid(conf);
    err = ktx_conf_validate(NULL);
    ck_assert_int_eq(ktx_error_code(err), KTX_ERR_INVALID_ARG);
    ktx_error_destroy(err);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_explicit_idempotence_rejects_acks_0_and_1)
{
    static const char *const acks[] = {"0", "1"};

    for (size_t i = 0; i < KTX__ARRAY_LEN(acks); i++) {
        ktx_conf_t *conf = minimal_conf();
        set_ok(conf, "enable.idempotence", "true");
        set_ok(conf, "acks", acks[i]);
        assert_invalid(conf, "acks=all");
        set_ok(conf, "acks", "all");
        assert_valid(conf);
        ktx_conf_destroy(conf);
    }
}
END_TEST

START_TEST(test_conf_explicit_idempotence_rejects_in_flight_over_5_and_no_retries)
{
    ktx_conf_t *conf = minimal_conf();

    set_ok(conf, "enable.idempotence", "true");
    set_ok(conf, "max.in.flight.requests.per.connection", "6");
    assert_invalid(conf, "max.in.flight.requests.per.connection");
    set_ok(conf, "max.in.flight.requests.per.connection", "5");
    assert_valid(conf);
    set_ok(conf, "retries", "0");
    assert_invalid(conf, "retries");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_default_idempotence_turns_off_on_conflict)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    set_ok(conf, "acks", "1");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert(!v.enable_idempotence);
    set_ok(conf, "acks", "all");
    set_ok(conf, "max.in.flight.requests.per.connection", "10");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert(!v.enable_idempotence);
    /* ...but a transactional producer needs it. */
    set_ok(conf, "transactional.id", "tx");
    assert_invalid(conf, "transactional.id requires idempotence");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_transactional_id_requires_idempotence)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    set_ok(conf, "transactional.id", "orders-tx");
    assert_valid(conf);
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_str_eq(v.transactional_id, "orders-tx");
    ck_assert_str_eq(v.state_producer_name, "orders-tx");
    set_ok(conf, "enable.idempotence", "false");
    assert_invalid(conf, "enable.idempotence=false");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_delivery_timeout_covers_linger_and_request_timeout)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    /* Not set explicitly: raised to the sum, as the Java producer does. */
    set_ok(conf, "linger.ms", "100000");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_int_eq(v.delivery_timeout_ms, 130000);
    /* Set explicitly below the sum: an error. */
    set_ok(conf, "delivery.timeout.ms", "129999");
    assert_invalid(conf, "delivery.timeout.ms (129999) must be at least linger.ms + "
                         "request.timeout.ms (130000)");
    set_ok(conf, "delivery.timeout.ms", "130000");
    assert_valid(conf);
    /* No overflow with the largest linger. */
    set_ok(conf, "linger.ms", "9223372036854775807");
    assert_invalid(conf, "delivery.timeout.ms");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_batch_size_must_fit_max_request_size)
{
    ktx_conf_t *conf = minimal_conf();

    set_ok(conf, "batch.size", "2000000");
    assert_invalid(conf, "batch.size (2000000) must not exceed max.request.size (1048576)");
    set_ok(conf, "max.request.size", "2000000");
    assert_valid(conf);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_backoff_max_below_base_uses_base)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    set_ok(conf, "retry.backoff.ms", "2000");
    set_ok(conf, "reconnect.backoff.ms", "3000");
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_int_eq(v.retry_backoff_max_ms, 2000);
    ck_assert_int_eq(v.reconnect_backoff_max_ms, 3000);
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_sasl_requires_mechanism_and_credentials)
{
    ktx_conf_t *conf = minimal_conf();

    set_ok(conf, "security.protocol", "SASL_SSL");
    assert_invalid(conf, "requires sasl.mechanism");
    set_ok(conf, "sasl.mechanism", "PLAIN");
    assert_invalid(conf, "sasl.mechanism=PLAIN requires sasl.username and sasl.password");
    set_ok(conf, "sasl.username", "alice");
    assert_invalid(conf, "sasl.password");
    set_ok(conf, "sasl.password", "s3cret-value");
    assert_valid(conf);
    set_ok(conf, "sasl.mechanism", "SCRAM-SHA-256");
    assert_valid(conf);
    set_ok(conf, "sasl.mechanism", "GSSAPI");
    set_ok(conf, "sasl.username", NULL);
    set_ok(conf, "sasl.password", NULL);
    assert_valid(conf);
    /* A mechanism without a SASL protocol is a mistake too. */
    set_ok(conf, "security.protocol", "SSL");
    assert_invalid(conf, "sasl.mechanism is set but security.protocol is SSL");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_ssl_key_and_certificate_go_together)
{
    ktx_conf_t *conf = minimal_conf();
    ktx_error_t *err;

    set_ok(conf, "security.protocol", "SSL");
    assert_valid(conf);
    set_ok(conf, "ssl.key.pem", test_pem);
    assert_invalid(conf, "requires a certificate");
    set_ok(conf, "ssl.certificate.location", "/etc/client.pem");
    assert_valid(conf);
    set_ok(conf, "ssl.certificate.pem", test_pem);
    assert_invalid(conf, "not both");
    set_ok(conf, "ssl.certificate.pem", NULL);
    set_ok(conf, "ssl.key.location", "/etc/client.key");
    assert_invalid(conf, "ssl.key.location or ssl.key.pem, not both");
    set_ok(conf, "ssl.key.pem", NULL);
    set_ok(conf, "ssl.key.location", NULL);
    assert_invalid(conf, "requires its key");
    set_ok(conf, "ssl.certificate.location", NULL);
    set_ok(conf, "ssl.key.password", "hunter2");
    assert_invalid(conf, "ssl.key.password");
    /* The messages of the rules never hold secret values. */
    err = ktx_conf_validate(conf);
    ck_assert_ptr_null(strstr(ktx_error_message(err), "hunter2"));
    ktx_error_destroy(err);
    set_ok(conf, "ssl.key.password", NULL);
    set_ok(conf, "ssl.ca.location", "/etc/ca.pem");
    set_ok(conf, "ssl.ca.pem", test_pem);
    assert_invalid(conf, "ssl.ca.location or ssl.ca.pem");
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_state_properties_need_state_path)
{
    ktx_conf_t *conf = minimal_conf();
    struct ktx__conf_values v;

    set_ok(conf, "state.journal", "true");
    assert_invalid(conf, "state.journal=true requires state.path");
    set_ok(conf, "state.journal", "false");
    set_ok(conf, "state.producer.name", "p1");
    assert_invalid(conf, "state.producer.name requires state.path");
    set_ok(conf, "state.path", "/var/lib/ktx");
    set_ok(conf, "state.journal", "true");
    assert_valid(conf);
    ck_assert_int_eq(ktx__conf_resolve(conf, &v, NULL, 0), 0);
    ck_assert_str_eq(v.state_path, "/var/lib/ktx");
    ck_assert_str_eq(v.state_producer_name, "p1");
    ck_assert(v.state_journal);
    ktx_error_destroy(set_fails(conf, "state.producer.name", "a/b", KTX_ERR_BAD_CONFIG));
    ktx_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_doc_lists_every_property_and_no_other)
{
    static const char *const type_names[] = {"string", "integer", "boolean", "enum"};
    char *doc = ktx_test_read_source_file("docs/configuration.md");
    size_t count, rows = 0;
    const struct ktx__conf_prop *props = ktx__conf_props(&count);
    char row[256];

    for (size_t i = 0; i < count; i++) {
        const char *def = props[i].def;
        if (!def)
            snprintf(row, sizeof(row), "\n| `%s` | %s | (not set) |", props[i].name,
                     type_names[props[i].type]);
        else if (!def[0])
            snprintf(row, sizeof(row), "\n| `%s` | %s | (empty) |", props[i].name,
                     type_names[props[i].type]);
        else
            snprintf(row, sizeof(row), "\n| `%s` | %s | `%s` |", props[i].name,
                     type_names[props[i].type], def);
        ck_assert_msg(strstr(doc, row) != NULL, "docs/configuration.md lacks the row start:%s",
                      row);
    }
    for (const char *p = doc; (p = strstr(p, "\n| `")) != NULL; p++) {
        char name[128];
        if (sscanf(p, "\n| `%127[^`]` |", name) == 1) {
            ck_assert_msg(ktx__conf_find(name) != NULL,
                          "docs/configuration.md documents unknown property %s", name);
            rows++;
        }
    }
    ck_assert_uint_eq(rows, count);
    free(doc);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");

    tcase_add_test(tc, test_conf_defaults_follow_kafka);
    tcase_add_test(tc, test_conf_resolve_gives_typed_defaults);
    tcase_add_test(tc, test_conf_resolve_maps_enum_values);
    tcase_add_test(tc, test_conf_every_property_accepts_a_valid_value);
    tcase_add_test(tc, test_conf_every_property_rejects_a_bad_value);
    tcase_add_test(tc, test_conf_messages_name_value_and_accepted_values);
    tcase_add_test(tc, test_conf_bootstrap_servers_syntax);
    tcase_add_test(tc, test_conf_compression_other_kafka_codecs_not_supported_yet);
    tcase_add_test(tc, test_conf_unknown_property_suggests_close_name);
    tcase_add_test(tc, test_conf_secrets_never_appear_in_messages_or_get);
    tcase_add_test(tc, test_conf_get_is_snprintf_like);
    tcase_add_test(tc, test_conf_set_null_resets_to_default_and_canonicalizes);
    tcase_add_test(tc, test_conf_compression_level_is_alias_of_zstd_level);
    tcase_add_test(tc, test_conf_dup_is_independent);
    tcase_add_test(tc, test_conf_validate_requires_bootstrap_servers);
    tcase_add_test(tc, test_conf_explicit_idempotence_rejects_acks_0_and_1);
    tcase_add_test(tc, test_conf_explicit_idempotence_rejects_in_flight_over_5_and_no_retries);
    tcase_add_test(tc, test_conf_default_idempotence_turns_off_on_conflict);
    tcase_add_test(tc, test_conf_transactional_id_requires_idempotence);
    tcase_add_test(tc, test_conf_delivery_timeout_covers_linger_and_request_timeout);
    tcase_add_test(tc, test_conf_batch_size_must_fit_max_request_size);
    tcase_add_test(tc, test_conf_backoff_max_below_base_uses_base);
    tcase_add_test(tc, test_conf_sasl_requires_mechanism_and_credentials);
    tcase_add_test(tc, test_conf_ssl_key_and_certificate_go_together);
    tcase_add_test(tc, test_conf_state_properties_need_state_path);
    tcase_add_test(tc, test_conf_doc_lists_every_property_and_no_other);
    suite_add_tcase(s, tc);
    return s;
}

KTX_CHECK_MAIN(conf_suite)
