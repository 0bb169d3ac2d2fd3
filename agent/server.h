/*
 * server.h - the HTTPS API (API.md) on libmicrohttpd: routing, authentication, error replies.
 *
 * Thread-per-connection mode: each connection has its own thread, so a capture request may
 * block while its capture arms, and a stream's reader may block (briefly) for data. Requests are
 * parsed here; everything privileged (namespaces, sockets) happens in capture.c's threads.
 */
#ifndef AGENT_SERVER_H
#define AGENT_SERVER_H

#include <sys/socket.h>

#include "agent.h"

/* Most simultaneous connections (captures are capped lower, in capture.h). */
#define SERVER_MAX_CONNECTIONS 64
/* Largest request body. */
#define SERVER_MAX_BODY (64 * 1024)
/* Memory pool per connection: headers, the upload and the send buffer that capture_read()
 * fills (libmicrohttpd's default of 32 KiB halves the stream's throughput). */
#define SERVER_CONNECTION_MEMORY (256 * 1024)
/* Seconds a connection may sit idle (a live stream is never idle: ISBs flow every second). */
#define SERVER_IDLE_TIMEOUT 60

struct MHD_Daemon;

/* Start serving HTTPS on addr with the certificate, key and client CA of tlsreload.h (tls_init()
 * first); NULL with err on failure. */
struct MHD_Daemon *server_start(struct agent *a, const struct sockaddr *addr, char *err);
void server_stop(struct MHD_Daemon *d);

#endif
