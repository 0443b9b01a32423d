/* An HTTP/1.1 server on a libev loop, parsing with llhttp. One struct sl_http_server is one
 * listener; push endpoints and the admin API each get their own. Requests on one connection are
 * answered in order (a pipelined request waits until the previous response is sent). */
#ifndef SL_SERVER_HTTP_H
#define SL_SERVER_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct sl_http_server;
struct sl_http_exchange; /* one request awaiting its response */

/* A zero field (or a NULL limits pointer) takes the default: 1024 connections, 16 KiB of
 * headers, 6 MiB of body, 30 s per request, 60 s idle, 100 headers, 64 MiB of bodies held. */
struct sl_http_limits {
    size_t max_connections;     /* beyond it, new connections get 503 and are closed */
    size_t max_header_bytes;    /* request line + headers; beyond it: 431 */
    size_t max_body_bytes;      /* beyond it: 413 (sent as soon as it is known) */
    int64_t request_timeout_ms; /* the whole request must arrive within this: else 408 */
    int64_t idle_timeout_ms;    /* keep-alive connection idle this long is closed */
    size_t max_headers;         /* header count; beyond it: 431 */
    /* Request body bytes the listener holds at once, counted from Content-Length when the
     * headers arrive (chunked bodies as they grow) until the response is queued: a request whose
     * body would go beyond it gets 503 with Retry-After before its body is read. Raised to
     * max_body_bytes when lower (a single largest body always fits). */
    size_t max_buffered_bytes;
    /* The fields below are off when zero (no default is filled in). */
    /* Connections one client address may hold at once, so that a single slow client cannot take
     * every slot of max_connections; beyond it that address's new connections get 503
     * {"error":"too_many_connections_per_ip"} and are closed. */
    size_t max_connections_per_ip;
    /* A new connection must have sent its first request's headers within this, or it is closed
     * (408 when it sent part of a request): idle sockets cannot sit on slots for idle_timeout. */
    int64_t header_timeout_ms;
    /* Connections accepted beyond max_connections that may only ask for probe_paths (a
     * NULL-terminated list of exact paths, e.g. "/healthz"): health checks keep answering when
     * the listener is full. Another path on such a connection gets 503 too_many_connections;
     * each closes after one response and runs against header_timeout_ms. */
    size_t probe_connections;
    const char *const *probe_paths;
};

struct sl_http_header {
    const char *name; /* as received; compare case-insensitively */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* A parsed request; valid until the exchange is answered. Strings are NUL-terminated. */
struct sl_http_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* the raw path without the query, not percent-decoded */
    size_t path_len;
    const char *query; /* after '?', or "" */
    size_t query_len;
    const struct sl_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    /* The body's announced length: Content-Length, -1 when chunked (unknown), 0 for none. What a
     * headers hook (sl_http_headers_cb) can know of the body before it is read. */
    int64_t content_length;
    const char *peer; /* "127.0.0.1:53412" */
};

/* Called for every complete request. The handler must eventually answer `x` exactly once with
 * sl_http_respond* (now or later from the same loop); `x` stays valid until then even if the
 * client goes away, in which case the response is dropped. After answering, neither `x` nor
 * `req` may be used again. The handler may call sl_http_server_stop_accepting or
 * sl_http_server_destroy. */
typedef void (*sl_http_handler_cb)(struct sl_http_exchange *x, const struct sl_http_req *req,
                                   void *arg);

/* How a headers hook refuses a request. The strings need to live only until the hook returns. */
struct sl_http_reject {
    const char *code;    /* the "error" member of the JSON body; NULL: "rejected" */
    const char *message; /* NULL: the status text */
    const char *header;  /* one extra "Name: value" response line (WWW-Authenticate), or NULL */
};

/* Runs when a request's headers are complete, before its body is read: req has no body yet
 * (req->content_length says what is announced). Returns 0 to go on (the body is read, then the
 * handler runs), or a 4xx/5xx status to answer at once with {"error","message"} from *rej; the
 * connection closes after that response, as the body was never read. The hook must neither
 * answer exchanges nor destroy the server. */
typedef int (*sl_http_headers_cb)(const struct sl_http_req *req, void *arg,
                                  struct sl_http_reject *rej);

/* listen: "127.0.0.1:8080", "0.0.0.0:0", ":8080", "[::1]:8080", "localhost:8080" (resolved
 * once, here). Bad addresses give SL_ECONFIG, bind errors a negated errno; *out is set only on
 * success. */
int sl_http_server_create(struct ev_loop *loop, const char *listen,
                          const struct sl_http_limits *limits, sl_http_handler_cb handler,
                          void *arg, struct sl_http_server **out, struct sl_err *err);
/* Sets the hook run at headers-complete (NULL: none). A server whose handler is
 * sl_http_router_handle gets sl_http_router_headers with the router at creation, so routes
 * added with sl_http_router_add_hooked need nothing more. */
void sl_http_server_set_headers_hook(struct sl_http_server *srv, sl_http_headers_cb cb, void *arg);
/* Request body bytes held right now (see max_buffered_bytes). */
size_t sl_http_server_buffered(const struct sl_http_server *srv);
/* The port actually bound (useful with ":0"). */
int sl_http_server_port(const struct sl_http_server *srv);
/* Closes the listening socket; open connections finish their current exchange and then close
 * instead of waiting for another request. */
void sl_http_server_stop_accepting(struct sl_http_server *srv);
/* Exchanges handed to the handler and not yet answered. */
size_t sl_http_server_pending(const struct sl_http_server *srv);
/* Closes every connection at once. Unanswered exchanges stay valid until answered. */
void sl_http_server_destroy(struct sl_http_server *srv);

const char *sl_http_header_get(const struct sl_http_req *req, const char *name, size_t *len);
/* The request of an exchange that has not been answered yet. */
const struct sl_http_req *sl_http_exchange_req(const struct sl_http_exchange *x);

/* Extra headers for a response: "Name: value" lines without CRLF, may be NULL/0 (lines with CR
 * or LF or without a colon are dropped). Content-Length and Connection are written by the
 * server; 1xx, 204 and 304 carry no body, HEAD requests get the headers only. */
void sl_http_respond(struct sl_http_exchange *x, int status, const char *content_type,
                     const char *const *headers, size_t nheaders, const void *body, size_t len);
/* 4xx/5xx with the body {"error":"<code>","message":"<message>"} as application/json. */
void sl_http_respond_error(struct sl_http_exchange *x, int status, const char *code,
                           const char *message);
/* A JSON body (already encoded). */
void sl_http_respond_json(struct sl_http_exchange *x, int status, const char *json, size_t len);

/* Answers x by resetting its connection without a response (tests use it to simulate a
 * function that crashes mid-call). */
void sl_http_exchange_abort(struct sl_http_exchange *x);

const char *sl_http_status_text(int status);

/* Method/path dispatch on top of one server: exact paths or prefixes ending in '/'. Unknown
 * path: 404; known path, other method: 405 with an Allow header; both as JSON errors. The most
 * specific route whose method matches wins (exact path, then the longest prefix; a named method
 * before "*"); GET routes also answer HEAD. */
struct sl_http_router;
struct sl_http_router *sl_http_router_create(void);
void sl_http_router_destroy(struct sl_http_router *r);
/* path "/hooks/" with prefix=true matches "/hooks/x"; method "*" matches any. */
void sl_http_router_add(struct sl_http_router *r, const char *method, const char *path, bool prefix,
                        sl_http_handler_cb cb, void *arg);
/* Like sl_http_router_add, with on_headers (may be NULL) run for this route's requests once
 * their headers are complete, before the body is read: the route can refuse a request (a wrong
 * token, an announced length over its own limit) without buffering its body. */
void sl_http_router_add_hooked(struct sl_http_router *r, const char *method, const char *path,
                               bool prefix, sl_http_headers_cb on_headers, sl_http_handler_cb cb,
                               void *arg);
/* Pass this as the server's handler, with the router as its arg. */
/* Removes the routes whose handler argument is arg (a hook that no longer exists): requests
 * still reading their body find the routes that are left when they complete. */
void sl_http_router_remove(struct sl_http_router *r, const void *arg);
void sl_http_router_handle(struct sl_http_exchange *x, const struct sl_http_req *req, void *router);
/* The headers hook of a router server: runs the on_headers of the route the request goes to.
 * Unknown paths and methods are left to sl_http_router_handle (404/405 after the body). */
int sl_http_router_headers(const struct sl_http_req *req, void *router, struct sl_http_reject *rej);

#endif
