/* Internal to server/: the structures shared by the listener, connections and exchanges. */
#ifndef SL_SERVER_INTERNAL_H
#define SL_SERVER_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "server/http.h"
#include "server/parse.h"

#define SL_HTTP_PEER_MAX 64

/* One request handed to the handler. A connection reuses its exchange for every request; when
 * the connection goes away while the exchange is pending, the exchange becomes an orphan owned
 * by nobody until it is answered, and then frees itself. */
struct sl_http_exchange {
    struct sl_http_server *srv; /* NULL once the server is destroyed */
    struct sl_http_conn *conn;  /* NULL once the connection is closed */
    struct sl_http_exchange *orphan_prev, *orphan_next;
    bool pending;   /* handed to the handler, not answered yet */
    size_t charged; /* body bytes counted in srv->buffered for this request */
    struct sl_http_msg msg;
    char peer[SL_HTTP_PEER_MAX];
};

enum sl_http_conn_state {
    SL_HTTP_CONN_READING, /* waiting for or parsing a request */
    SL_HTTP_CONN_PENDING, /* the handler has the request */
    SL_HTTP_CONN_WRITING, /* a response is being written */
    SL_HTTP_CONN_LINGER,  /* final response sent, write side shut, draining input */
};

struct sl_http_conn {
    struct sl_http_server *srv; /* NULL once closed */
    struct sl_http_conn *prev, *next;
    int fd;
    ev_io rio, wio;
    ev_timer timer; /* idle, request, write-stall or linger timeout (one at a time) */
    enum sl_http_conn_state state;
    struct sl_buf rbuf;
    size_t rpos; /* parsed up to here */
    struct sl_buf wbuf;
    size_t wpos; /* written up to here */
    struct sl_http_parse ps;
    struct sl_http_exchange *x;
    int busy;           /* > 0 while conn code is on the stack: freeing is deferred */
    bool in_request;    /* bytes of the current request have arrived */
    bool continue_sent; /* "100 Continue" written for the current request */
    bool close_after;   /* close once the queued response is written */
    bool peer_eof;      /* the client shut its write side */
    bool closed;
    bool probe_only;        /* accepted beyond max_connections: serves limits.probe_paths only */
    unsigned char addr[16]; /* the client address (IPv4 mapped into IPv6) for the per-IP cap */
    int64_t header_deadline_ms; /* ev_now in ms by which the first headers are due; 0: none */
    int64_t req_start_ms;       /* ev_now in ms when the current request began */
};

struct sl_http_server {
    struct ev_loop *loop;
    struct sl_http_limits limits;
    sl_http_handler_cb handler;
    void *arg;
    int fd;
    int port;
    ev_io accept_io;
    ev_timer accept_pause; /* re-arms accepting after EMFILE and friends */
    struct sl_http_conn *conns;
    size_t nconns;
    size_t nprobe; /* of nconns, the probe_only ones */
    struct sl_http_exchange *orphans;
    size_t pending;
    size_t buffered; /* sum of the exchanges' charged bytes, within limits.max_buffered_bytes */
    sl_http_headers_cb on_headers;
    void *on_headers_arg;
    bool draining; /* stop_accepting was called */
    char scope[48];
};

/* listen.c: parses "host:port" and returns a bound, listening, non-blocking socket. */
int sl_http_listen_open(const char *listen, int *fd, int *port, struct sl_err *err);
/* Formats a peer address as "127.0.0.1:53412" or "[::1]:53412". */
void sl_http_peer_format(const void *sockaddr, char *out, size_t cap);
/* The peer's address without its port, IPv4 mapped into IPv6 (all zero for other families). */
void sl_http_peer_addr(const void *sockaddr, unsigned char out[16]);

/* conn.c */
void sl_http_conn_create(struct sl_http_server *srv, int fd, const char *peer,
                         const unsigned char addr[16], bool probe_only);
/* Closes the socket at once; a pending exchange becomes an orphan. */
void sl_http_conn_close(struct sl_http_conn *c);
/* After stop_accepting: an idle connection closes now, others after their exchange. */
void sl_http_conn_drain(struct sl_http_conn *c);
/* A response was queued in c->wbuf for the exchange. */
void sl_http_conn_responded(struct sl_http_conn *c);

/* response.c: appends a complete response to b. */
void sl_http_response_build(struct sl_buf *b, int status, const char *content_type,
                            const char *const *headers, size_t nheaders, const void *body,
                            size_t len, bool keep_alive, bool http10, bool head);
/* {"error":"<code>","message":"<message>"} */
void sl_http_error_json(struct sl_buf *b, int status, const char *code, const char *message);
/* A JSON error response; header is one extra "Name: value" line, or NULL. */
void sl_http_response_error(struct sl_buf *b, int status, const char *code, const char *message,
                            const char *header, bool keep_alive);

/* exchange.c */
struct sl_http_exchange *sl_http_exchange_create(const char *peer);
/* Frees an exchange that is not pending (conn teardown). */
void sl_http_exchange_destroy(struct sl_http_exchange *x);
/* The connection of a pending exchange closed: x is kept on the server's orphan list. */
void sl_http_exchange_orphan(struct sl_http_exchange *x);
/* Gives the body bytes x holds back to its server's max_buffered_bytes budget. */
void sl_http_exchange_uncharge(struct sl_http_exchange *x);

#endif
