/*
 * A tiny producer: sends each line of standard input (or N generated records) to a topic
 * with the idempotent producer, then flushes and closes. Linked against the shared
 * libkafkatx to show that the public API suffices.
 *
 *   produce BOOTSTRAP TOPIC [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kafkatx.h>

static int delivered, failed;

/* Counts the outcome of every record (runs inside ktx_poll/ktx_flush/ktx_close). */
static void on_report(ktx_producer_t *producer, const ktx_delivery_report_t *dr, void *opaque)
{
    (void)producer;
    (void)opaque;
    if (dr->error) {
        failed++;
        fprintf(stderr, "%s [%d]: %s\n", dr->topic, (int)dr->partition,
                ktx_error_message(dr->error));
    } else {
        delivered++;
    }
}

/* Prints |err| with |what| and frees it; returns 1 when there was an error. */
static int report(const char *what, ktx_error_t *err)
{
    if (!err)
        return 0;
    fprintf(stderr, "%s: %s: %s\n", what, ktx_error_name(err), ktx_error_message(err));
    ktx_error_destroy(err);
    return 1;
}

/* Sends one record with |value| to |topic|, keyed by its number. */
static int send_one(ktx_producer_t *producer, const char *topic, long n, const char *value)
{
    char key[32];
    ktx_record_t rec = {0};

    snprintf(key, sizeof(key), "%ld", n);
    rec.topic = topic;
    rec.partition = KTX_PARTITION_ANY;
    rec.key = key;
    rec.key_len = strlen(key);
    rec.value = value;
    rec.value_len = strlen(value);
    ktx_poll(producer, 0);
    return report("ktx_send", ktx_send(producer, &rec));
}

int main(int argc, char **argv)
{
    ktx_producer_t *producer = NULL;
    ktx_conf_t *conf;
    long count = argc > 3 ? atol(argv[3]) : -1;
    char line[4096];
    int bad = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC [COUNT]\n", argv[0]);
        return 2;
    }
    conf = ktx_conf_new();
    if (report("conf", ktx_conf_set(conf, "bootstrap.servers", argv[1])) ||
        report("conf", ktx_conf_set(conf, "linger.ms", "5"))) {
        ktx_conf_destroy(conf);
        return 1;
    }
    ktx_conf_set_dr_cb(conf, on_report, NULL);
    if (report("ktx_producer_new", ktx_producer_new(&producer, conf))) {
        ktx_conf_destroy(conf);
        return 1;
    }
    for (long n = 0; count < 0 || n < count; n++) {
        if (count < 0) {
            if (!fgets(line, sizeof(line), stdin))
                break;
            line[strcspn(line, "\n")] = '\0';
        } else {
            snprintf(line, sizeof(line), "record %ld", n);
        }
        if ((bad = send_one(producer, argv[2], n, line)) != 0)
            break;
    }
    bad |= report("ktx_flush", ktx_flush(producer, 30000));
    bad |= report("ktx_close", ktx_close(producer, 10000));
    ktx_producer_destroy(producer);
    printf("%d delivered, %d failed\n", delivered, failed);
    return bad || failed ? 1 : 0;
}
