/*
 * SASL client mechanisms, independent of the Kafka framing: the connection layer sends
 * SaslHandshake v1 with ktx__sasl_mechanism_name(), then loops
 *
 *   ktx__sasl_step(sasl, in, in_len, &out, &out_len)   (in: NULL, 0 the first time)
 *     KTX__SASL_CONTINUE  send |out| as SaslAuthenticate auth_bytes, wait for the answer,
 *                         and step again with its auth_bytes (after checking error_code)
 *     KTX__SASL_DONE      authenticated; nothing more to send
 *     negative            KTX_ERR_AUTH (message in |errbuf|) or KTX_ERR_NO_MEMORY
 *
 * Mechanisms: PLAIN ("\0user\0password"), SCRAM-SHA-256 and SCRAM-SHA-512 (scram.h), and
 * GSSAPI (Kerberos) through Cyrus SASL's client API with an initiator credential that sasl.c
 * acquires through GSS-API. Only sasl.c includes Cyrus SASL and GSS-API headers.
 * Steps: PLAIN sends one message (then DONE on the broker's empty answer); SCRAM sends
 * client-first and client-final, and the step on server-final (v=) checks the server's
 * signature before DONE; GSSAPI sends Kerberos tokens until Cyrus completes, its last token
 * still goes out with CONTINUE and the step on the broker's answer gives DONE. A broker
 * that refuses answers SaslAuthenticate with an error code: the connection layer reports
 * that itself (KTX_ERR_AUTH with the broker's error_message) without another step.
 *
 * Secrets (sasl.password, the keytab's keys) are never written to a message.
 * Thread: an object belongs to the connection that drives it. ktx__sasl_new() for GSSAPI
 * initialises Cyrus SASL once per process (thread-safe) and changes no environment variable;
 * it and the GSSAPI steps may block on the KDC (the initial and the service ticket).
 * Locks: none.
 */
#ifndef KTX_SASL_H
#define KTX_SASL_H

#include "conf.h"
#include "ktx_int.h"

/* Positive results of ktx__sasl_step() (errors are negative codes). */
#define KTX__SASL_CONTINUE 1
#define KTX__SASL_DONE 2

struct ktx__sasl;

/* Returns the mechanism name to put in SaslHandshake ("PLAIN", "SCRAM-SHA-256",
 * "SCRAM-SHA-512", "GSSAPI"), static, or NULL for KTX__SASL_NONE. */
const char *ktx__sasl_mechanism_name(enum ktx__sasl_mechanism mech);

/*
 * Creates a client for |mech| with the sasl.* values of |cv| (PLAIN and SCRAM need
 * sasl.username and sasl.password; GSSAPI uses sasl.kerberos.service.name, default
 * "kafka") for the broker |host| (GSSAPI asks for the ticket of service@host).
 * GSSAPI authenticates as exactly sasl.kerberos.principal: ktx__sasl_new() acquires its
 * initiator credential and hands it to Cyrus. With sasl.kerberos.keytab the initial ticket
 * comes from that keytab and goes into a MEMORY ticket cache private to this process (named
 * "MEMORY:kafkatx:<principal>:<keytab>", shared by the connections with that identity);
 * without it, the default ticket cache (KRB5CCNAME, e.g. filled by kinit) must hold a ticket
 * of that principal. No principal: the keytab's first one, or the default cache's.
 * KRB5_CONFIG from the environment chooses the realm configuration.
 * |cv| and |host| are borrowed (what is needed is copied). On success stores the client in
 * |*out| (free with ktx__sasl_free()) and returns 0; otherwise returns KTX_ERR_BAD_CONFIG
 * (no mechanism, missing user name or password), KTX_ERR_AUTH (no Kerberos credential for the
 * principal in the keytab or the ticket cache, a malformed principal, Cyrus SASL has no
 * GSSAPI plugin or refused to start; the message names the principal and the keytab) or
 * KTX_ERR_NO_MEMORY, with a message in |errbuf|.
 */
int ktx__sasl_new(struct ktx__sasl **out, enum ktx__sasl_mechanism mech,
                  const struct ktx__conf_values *cv, const char *host, char *errbuf,
                  size_t errsize);

/*
 * Feeds the server's bytes |in| (|in_len|; NULL and 0 on the first call) and produces the
 * next client bytes in |*out| (|*out_len| bytes, possibly 0), borrowed from |sasl| until
 * the next call or ktx__sasl_free(). Returns KTX__SASL_CONTINUE, KTX__SASL_DONE, or
 * KTX_ERR_AUTH (the server's answer is malformed or refuses us; the server failed to prove
 * itself in SCRAM; Kerberos has no credentials), KTX_ERR_STATE (called after DONE or an
 * error), KTX_ERR_NO_MEMORY, with a message in |errbuf| (|errsize| bytes).
 */
int ktx__sasl_step(struct ktx__sasl *sasl, const uint8_t *in, size_t in_len,
                   const uint8_t **out, size_t *out_len, char *errbuf, size_t errsize);

/* Wipes the secrets of |sasl| and frees it. NULL-safe. */
void ktx__sasl_free(struct ktx__sasl *sasl);

#endif /* KTX_SASL_H */
