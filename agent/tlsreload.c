/*
 * tlsreload.c - the TLS certificate, key and client CA, swapped while the agent runs (see
 * tlsreload.h).
 *
 * Lifetime, the part that must not go wrong: a loaded set (struct tls_set) is never handed to
 * GnuTLS. For every handshake tls_select_certificate() builds fresh copies of the chain and the
 * key and returns them with GNUTLS_CERT_RETR_DEINIT_ALL, so GnuTLS owns them and frees them with
 * the session (gnutls_deinit, when libmicrohttpd closes the connection). A handshake that is in
 * progress during a reload therefore keeps using its own copy of the old certificate, and an
 * established connection keeps its own for as long as it lives - nothing has to guess when a
 * handshake has finished. The set itself is only read while a copy is made or a client chain is
 * verified; it is reference-counted so that a reload can publish a new one under the mutex while
 * such a reader holds the old one, and the last reader frees it. Copying costs one certificate
 * and one key parse per handshake, small next to the handshake's own public-key operations.
 */
#include "tlsreload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/x509.h>

#include "log.h"
#include "ncap.h"

/* Longest client chain verified (GnuTLS's own default verification depth). */
#define MAX_CLIENT_CHAIN 16

enum { F_CERT, F_KEY, F_CA, N_FILES };

/* One loaded certificate, key and client CA. Immutable once published. */
struct tls_set {
    unsigned refs;         /* under tls.mu: the published pointer counts as one */
    gnutls_datum_t *chain; /* DER (gnutls_malloc'd), leaf first */
    unsigned n_chain;
    char *key_pem;               /* as read; wiped when freed */
    gnutls_x509_trust_list_t ca; /* NULL without --client-ca */
    unsigned n_ca;
    bool ca_names_stale; /* the CA differs from the one libmicrohttpd advertises */
    char subject[300], serial[80], expires_text[32];
    time_t expires;
};

/* What stat() said about one file: a change in any of these means "look again". Comparing the
 * inode catches kubelet's and cert-manager's way of updating a mounted secret (a new file behind
 * a swapped symlink, which stat() follows) as well as mv; mtime (nanoseconds) and size catch a
 * file rewritten in place. */
struct file_sig {
    int err; /* errno of stat(), 0 when it worked */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

static struct {
    pthread_mutex_t mu;
    struct tls_set *cur; /* under mu */
    uint64_t reloads;    /* under mu */
    uint64_t errors;     /* under mu */
    /* Set by tls_init, read-only after it. */
    const char *paths[N_FILES];
    char *start_ca; /* PEM given to libmicrohttpd; it must live as long as the daemon */
    /* The main thread's alone (tls_reload_now/tick). */
    struct file_sig tried[N_FILES]; /* the files as they were at the last load attempt */
    struct file_sig seen[N_FILES];  /* ... and at the last look */
} tls = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- files ---- */

static char *read_text(const char *path, const char *what, char *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        ncap_fail(err, "cannot read the %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    int bad = ferror(f) || !mem;
    fclose(f);
    if (mem)
        fclose(mem);
    explicit_bzero(chunk, sizeof(chunk));
    if (bad || !buf || len == 0) {
        if (buf)
            explicit_bzero(buf, len);
        free(buf);
        ncap_fail(err, "cannot read the %s %s: %s", what, path, bad ? "read error" : "it is empty");
        return NULL;
    }
    return buf;
}

static void sig_read(struct file_sig out[N_FILES])
{
    memset(out, 0, sizeof(struct file_sig) * N_FILES);
    for (int i = 0; i < N_FILES; i++) {
        struct stat st;
        if (!tls.paths[i])
            continue;
        if (stat(tls.paths[i], &st) < 0) {
            out[i].err = errno;
            continue;
        }
        out[i].dev = st.st_dev;
        out[i].ino = st.st_ino;
        out[i].size = st.st_size;
        out[i].mtime = st.st_mtim;
    }
}

static bool sig_equal(const struct file_sig *a, const struct file_sig *b)
{
    for (int i = 0; i < N_FILES; i++)
        if (a[i].err != b[i].err || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return false;
    return true;
}

/* ---- sets ---- */

static void set_free(struct tls_set *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_chain; i++)
        gnutls_free(s->chain[i].data);
    free(s->chain);
    if (s->key_pem) {
        explicit_bzero(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    if (s->ca)
        gnutls_x509_trust_list_deinit(s->ca, 1);
    free(s);
}

/* The current set with a reference the caller must drop with set_put(). */
static struct tls_set *set_get(void)
{
    pthread_mutex_lock(&tls.mu);
    struct tls_set *s = tls.cur;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&tls.mu);
    return s;
}

static void set_put(struct tls_set *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&tls.mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&tls.mu);
    if (last)
        set_free(s);
}

/* Fresh copies of s's chain and key, allocated the way GnuTLS frees them (gnutls_free for the
 * array, gnutls_pcert_deinit and gnutls_privkey_deinit for the contents). */
static int set_copy(const struct tls_set *s, gnutls_pcert_st **certs, unsigned *n_certs,
                    gnutls_privkey_t *key)
{
    gnutls_pcert_st *pc = gnutls_malloc(sizeof(*pc) * s->n_chain);
    if (!pc)
        return GNUTLS_E_MEMORY_ERROR;
    memset(pc, 0, sizeof(*pc) * s->n_chain);
    unsigned n = 0;
    int rc = 0;
    for (; n < s->n_chain; n++)
        if ((rc = gnutls_pcert_import_x509_raw(&pc[n], &s->chain[n], GNUTLS_X509_FMT_DER, 0)) < 0)
            break;
    gnutls_privkey_t k = NULL;
    if (rc >= 0 && (rc = gnutls_privkey_init(&k)) >= 0) {
        gnutls_datum_t pem = {(unsigned char *)s->key_pem, (unsigned)strlen(s->key_pem)};
        rc = gnutls_privkey_import_x509_raw(k, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    if (rc < 0) {
        if (k)
            gnutls_privkey_deinit(k);
        while (n > 0)
            gnutls_pcert_deinit(&pc[--n]);
        gnutls_free(pc);
        return rc;
    }
    *certs = pc;
    *n_certs = s->n_chain;
    *key = k;
    return 0;
}

/* Subject, serial and expiry of the leaf, for the log and /metrics (never anything secret). */
static void describe(struct tls_set *s, gnutls_x509_crt_t leaf)
{
    gnutls_datum_t dn = {NULL, 0};
    if (gnutls_x509_crt_get_dn3(leaf, &dn, 0) >= 0 && dn.data)
        log_quote((const char *)dn.data, s->subject, sizeof(s->subject));
    else
        snprintf(s->subject, sizeof(s->subject), "(none)");
    gnutls_free(dn.data);
    unsigned char serial[40];
    size_t len = sizeof(serial);
    s->serial[0] = '\0';
    if (gnutls_x509_crt_get_serial(leaf, serial, &len) >= 0) {
        /* DER pads a serial with its top bit set with a zero byte; print the number itself */
        size_t skip = 0;
        while (skip + 1 < len && serial[skip] == 0)
            skip++;
        for (size_t i = skip; i < len && 2 * (i - skip) + 3 <= sizeof(s->serial); i++)
            snprintf(s->serial + 2 * (i - skip), 3, "%02x", serial[i]);
    }
    s->expires = gnutls_x509_crt_get_expiration_time(leaf);
    struct tm tm;
    if (s->expires == (time_t)-1 || !gmtime_r(&s->expires, &tm) ||
        !strftime(s->expires_text, sizeof(s->expires_text), "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(s->expires_text, sizeof(s->expires_text), "unknown");
}

/* Read the three files and check them as a set; NULL with one sentence in err. ca_text, when
 * not NULL, receives the client CA's PEM (malloc'd; NULL without one). */
static struct tls_set *set_load(char **ca_text, char *err)
{
    const char *cert_path = tls.paths[F_CERT], *key_path = tls.paths[F_KEY];
    const char *ca_path = tls.paths[F_CA];
    struct tls_set *s = calloc(1, sizeof(*s));
    char *cert = NULL, *ca = NULL;
    gnutls_x509_crt_t *crts = NULL;
    unsigned n_crts = 0;
    gnutls_certificate_credentials_t cred = NULL;
    int rc;
    if (!s) {
        ncap_fail(err, "out of memory reading the TLS certificate");
        goto fail;
    }
    s->refs = 1;
    if (!(cert = read_text(cert_path, "TLS certificate", err)) ||
        !(s->key_pem = read_text(key_path, "TLS key", err)))
        goto fail;
    /* Let GnuTLS judge the pair as it would for a server (it checks that the key belongs to the
     * certificate), so a bad file is a clear sentence. */
    gnutls_datum_t c = {(unsigned char *)cert, (unsigned)strlen(cert)};
    gnutls_datum_t k = {(unsigned char *)s->key_pem, (unsigned)strlen(s->key_pem)};
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        ncap_fail(err, "out of memory checking the TLS certificate");
        goto fail;
    }
    rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        ncap_fail(err, "the TLS certificate %s and key %s cannot be used: %s", cert_path, key_path,
                  gnutls_strerror(rc));
        goto fail;
    }
    /* The chain as handshakes will send it: sorted leaf first, kept in DER. */
    rc = gnutls_x509_crt_list_import2(&crts, &n_crts, &c, GNUTLS_X509_FMT_PEM,
                                      GNUTLS_X509_CRT_LIST_SORT);
    if (rc < 0 || n_crts == 0) {
        ncap_fail(err, "the TLS certificate %s cannot be used: %s", cert_path,
                  rc < 0 ? gnutls_strerror(rc) : "it holds no certificate");
        goto fail;
    }
    if (!(s->chain = calloc(n_crts, sizeof(*s->chain)))) {
        ncap_fail(err, "out of memory reading the TLS certificate");
        goto fail;
    }
    for (; s->n_chain < n_crts; s->n_chain++)
        if ((rc = gnutls_x509_crt_export2(crts[s->n_chain], GNUTLS_X509_FMT_DER,
                                          &s->chain[s->n_chain])) < 0) {
            ncap_fail(err, "the TLS certificate %s cannot be used: %s", cert_path,
                      gnutls_strerror(rc));
            goto fail;
        }
    describe(s, crts[0]);
    /* Make one set of copies now, exactly as a handshake will, so a handshake cannot be the
     * first to find that they do not build. */
    gnutls_pcert_st *pc;
    unsigned n_pc;
    gnutls_privkey_t pk;
    if ((rc = set_copy(s, &pc, &n_pc, &pk)) < 0) {
        ncap_fail(err, "the TLS certificate %s and key %s cannot be used: %s", cert_path, key_path,
                  gnutls_strerror(rc));
        goto fail;
    }
    for (unsigned i = 0; i < n_pc; i++)
        gnutls_pcert_deinit(&pc[i]);
    gnutls_free(pc);
    gnutls_privkey_deinit(pk);

    if (ca_path) {
        if (!(ca = read_text(ca_path, "client CA", err)))
            goto fail;
        if (gnutls_x509_trust_list_init(&s->ca, 0) < 0) {
            s->ca = NULL;
            ncap_fail(err, "out of memory reading the client CA");
            goto fail;
        }
        gnutls_datum_t d = {(unsigned char *)ca, (unsigned)strlen(ca)};
        rc = gnutls_x509_trust_list_add_trust_mem(s->ca, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
        if (rc <= 0) {
            ncap_fail(err, "the client CA %s cannot be used: %s", ca_path,
                      rc < 0 ? gnutls_strerror(rc) : "it holds no PEM certificate");
            goto fail;
        }
        s->n_ca = (unsigned)rc;
        s->ca_names_stale = tls.start_ca && strcmp(ca, tls.start_ca) != 0;
    }
    for (unsigned i = 0; i < n_crts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    free(cert);
    if (ca_text)
        *ca_text = ca;
    else
        free(ca);
    return s;

fail:
    for (unsigned i = 0; i < n_crts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    free(cert);
    free(ca);
    set_free(s);
    return NULL;
}

/* "; client CA: N certificates" for the log, or "" without one. */
static void ca_note(const struct tls_set *s, char *out, size_t size)
{
    out[0] = '\0';
    if (s->ca)
        snprintf(out, size, "; client CA: %u certificate%s", s->n_ca, s->n_ca == 1 ? "" : "s");
}

/* ---- the interface ---- */

int tls_init(const char *cert_path, const char *key_path, const char *client_ca_path, char *err)
{
    tls.paths[F_CERT] = cert_path;
    tls.paths[F_KEY] = key_path;
    tls.paths[F_CA] = client_ca_path;
    /* Before reading: a file replaced while it is read is then seen as changed at the next look. */
    sig_read(tls.tried);
    memcpy(tls.seen, tls.tried, sizeof(tls.seen));
    struct tls_set *s = set_load(&tls.start_ca, err);
    if (!s)
        return -1;
    pthread_mutex_lock(&tls.mu);
    tls.cur = s;
    pthread_mutex_unlock(&tls.mu);
    return 0;
}

const char *tls_start_client_ca(void)
{
    return tls.start_ca;
}

void tls_log_current(void)
{
    struct tls_set *s = set_get();
    if (!s)
        return;
    char ca[64];
    ca_note(s, ca, sizeof(ca));
    agent_log("TLS certificate %s, serial %s, expires %s%s (reloaded on SIGHUP and when the files "
              "change)",
              s->subject, s->serial, s->expires_text, ca);
    set_put(s);
}

int tls_select_certificate(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                           gnutls_pcert_st **certs, unsigned int *n_certs,
                           gnutls_ocsp_data_st **ocsp, unsigned int *n_ocsp, gnutls_privkey_t *key,
                           unsigned int *flags)
{
    (void)info; /* one certificate for every name and algorithm the client asks for */
    struct tls_set *s = set_get();
    if (!s)
        return -1;
    int rc = set_copy(s, certs, n_certs, key);
    bool stale = s->ca_names_stale;
    set_put(s);
    if (rc < 0)
        return -1; /* the handshake fails; the loaded set built once, so this is memory */
    /* The certificate request lists the CAs of the trust list libmicrohttpd was started with;
     * once the client CA has been replaced those names are wrong, and a client that picks its
     * certificate by them would send none. Send no names then: clients send what they have. */
    if (stale)
        gnutls_certificate_send_x509_rdn_sequence(session, 1);
    *ocsp = NULL;
    *n_ocsp = 0;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

int tls_verify_client(const gnutls_datum_t *certs, unsigned n, unsigned *status)
{
    gnutls_x509_crt_t crts[MAX_CLIENT_CHAIN];
    unsigned got = 0;
    int rc = 0;
    *status = 0;
    if (n == 0 || n > MAX_CLIENT_CHAIN)
        return GNUTLS_E_CONSTRAINT_ERROR;
    for (; got < n; got++) {
        if ((rc = gnutls_x509_crt_init(&crts[got])) < 0)
            break;
        if ((rc = gnutls_x509_crt_import(crts[got], &certs[got], GNUTLS_X509_FMT_DER)) < 0) {
            gnutls_x509_crt_deinit(crts[got]);
            break;
        }
    }
    if (rc >= 0) {
        struct tls_set *s = set_get();
        /* The same check gnutls_certificate_verify_peers2() makes (chain to a trusted CA,
         * signatures, validity dates, CA constraints), against the current client CA. */
        rc = s && s->ca
                 ? gnutls_x509_trust_list_verify_crt2(s->ca, crts, n, NULL, 0, 0, status, NULL)
                 : GNUTLS_E_NO_CERTIFICATE_FOUND;
        set_put(s);
    }
    while (got > 0)
        gnutls_x509_crt_deinit(crts[--got]);
    return rc < 0 ? rc : 0;
}

static void reload(const char *trigger)
{
    char err[NCAP_ERRBUF_SIZE];
    struct file_sig now[N_FILES];
    sig_read(now);
    memcpy(tls.tried, now, sizeof(tls.tried));
    memcpy(tls.seen, now, sizeof(tls.seen));
    struct tls_set *s = set_load(NULL, err);
    pthread_mutex_lock(&tls.mu);
    struct tls_set *old = tls.cur;
    if (s) {
        tls.cur = s;
        tls.reloads++;
    } else {
        tls.errors++;
        old->refs++; /* for the log line below */
    }
    pthread_mutex_unlock(&tls.mu);
    if (!s) {
        agent_log("TLS certificate not reloaded (%s), still serving serial %s: %s", trigger,
                  old->serial, err);
        set_put(old);
        return;
    }
    char ca[64];
    ca_note(s, ca, sizeof(ca));
    agent_log("TLS certificate reloaded (%s): %s, serial %s, expires %s%s", trigger, s->subject,
              s->serial, s->expires_text, ca);
    /* Drop the reference the published pointer held; readers still holding one free it. */
    set_put(old);
}

void tls_reload_now(void)
{
    reload("SIGHUP");
}

void tls_reload_tick(void)
{
    struct file_sig now[N_FILES];
    sig_read(now);
    if (sig_equal(now, tls.tried)) {
        memcpy(tls.seen, now, sizeof(tls.seen)); /* back to what was loaded: nothing to do */
        return;
    }
    if (!sig_equal(now, tls.seen)) {
        memcpy(tls.seen, now, sizeof(tls.seen)); /* changed since the last look: let it settle */
        return;
    }
    /* Changed, and the same at two looks in a row. Tried once per change: a set that does not
     * load is logged and counted once, not every TLS_RELOAD_CHECK_SECONDS. */
    reload("the files changed");
}

char *tls_metrics(void)
{
    pthread_mutex_lock(&tls.mu);
    unsigned long long reloads = tls.reloads, errors = tls.errors;
    long long expires = tls.cur ? (long long)tls.cur->expires : 0;
    pthread_mutex_unlock(&tls.mu);
    char *out = NULL;
    if (asprintf(&out,
                 "# HELP netcap_tls_reloads_total TLS certificate, key and client CA reloads.\n"
                 "# TYPE netcap_tls_reloads_total counter\n"
                 "netcap_tls_reloads_total %llu\n"
                 "# HELP netcap_tls_reload_errors_total Reloads refused because the files did not "
                 "load (the previous certificate stays).\n"
                 "# TYPE netcap_tls_reload_errors_total counter\n"
                 "netcap_tls_reload_errors_total %llu\n"
                 "# HELP netcap_tls_certificate_expiry_timestamp_seconds When the served TLS "
                 "certificate expires (Unix time).\n"
                 "# TYPE netcap_tls_certificate_expiry_timestamp_seconds gauge\n"
                 "netcap_tls_certificate_expiry_timestamp_seconds %lld\n",
                 reloads, errors, expires) < 0)
        return NULL;
    return out;
}

void tls_free(void)
{
    pthread_mutex_lock(&tls.mu);
    struct tls_set *s = tls.cur;
    tls.cur = NULL;
    pthread_mutex_unlock(&tls.mu);
    set_put(s);
    free(tls.start_ca);
    tls.start_ca = NULL;
}
