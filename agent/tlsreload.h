/*
 * tlsreload.h - the agent's TLS certificate, key and client CA, reloadable while it runs.
 *
 * cert-manager and kubelet replace the files of a mounted secret in place; the agent picks the
 * new ones up without a restart and without touching running streams: on SIGHUP, and when
 * tls_reload_tick() (called by main.c every TLS_RELOAD_CHECK_SECONDS) sees that a file's inode,
 * size or mtime changed. A set that does not load (unreadable, a key that does not match the
 * certificate, a CA file without a certificate) is refused as a whole: the previous one stays,
 * one log line says why, netcap_tls_reload_errors_total counts it.
 *
 * New handshakes get the current certificate through libmicrohttpd's certificate callback
 * (tls_select_certificate); established connections keep the one they were handshaken with.
 * Client certificates are verified against the current client CA by tls_verify_client(), not by
 * the trust list libmicrohttpd was started with (that one cannot be replaced safely while
 * handshakes use it).
 */
#ifndef AGENT_TLSRELOAD_H
#define AGENT_TLSRELOAD_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* How often the files' inode/size/mtime are looked at. A change is acted on once it has been
 * seen unchanged at two looks in a row, so a cert and key renamed into place one after the other
 * are read as a pair rather than as a mismatch in between. */
#define TLS_RELOAD_CHECK_SECONDS 2

/* Read and check the files at start-up; client_ca may be NULL (no mTLS). 0, or -1 with one
 * sentence in err (the same sentences a reload logs). */
int tls_init(const char *cert_path, const char *key_path, const char *client_ca_path, char *err);

/* The client CA as read at start (PEM), for MHD_OPTION_HTTPS_MEM_TRUST, which makes
 * libmicrohttpd ask clients for a certificate; NULL without --client-ca. */
const char *tls_start_client_ca(void);

/* One log line naming the certificate served now (subject, serial, expiry). */
void tls_log_current(void);

/* gnutls_certificate_retrieve_function3 for MHD_OPTION_HTTPS_CERT_CALLBACK2: hands the
 * handshake its own copy of the current chain and key, which GnuTLS frees with the session. */
int tls_select_certificate(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                           gnutls_pcert_st **certs, unsigned int *n_certs,
                           gnutls_ocsp_data_st **ocsp, unsigned int *n_ocsp, gnutls_privkey_t *key,
                           unsigned int *flags);

/* Verify the chain a client sent (DER, leaf first) against the current client CA: 0 with the
 * GnuTLS status bits (0 = trusted), or a negative GnuTLS error. */
int tls_verify_client(const gnutls_datum_t *certs, unsigned n, unsigned *status);

/* SIGHUP: reload now, whatever the files look like. */
void tls_reload_now(void);
/* The periodic look: reload when the files changed (see TLS_RELOAD_CHECK_SECONDS). Both are
 * called from the main thread only. */
void tls_reload_tick(void);

/* The netcap_tls_* lines of /metrics, malloc'd; NULL when out of memory. */
char *tls_metrics(void);

/* At exit, after the HTTPS server has stopped. */
void tls_free(void);

#endif
