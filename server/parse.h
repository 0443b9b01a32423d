/* Internal to server/: incremental parsing of one HTTP/1.x request with llhttp, enforcing the
 * header, header-count and body limits. The connection code and the fuzz harness both use it. */
#ifndef SL_SERVER_PARSE_H
#define SL_SERVER_PARSE_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "server/http.h"

/* Offsets of one header inside sl_http_msg.text (the buffer may move while it grows). */
struct sl_http_span {
    size_t name_off, name_len;
    size_t value_off, value_len;
};

/* Storage of one parsed request. Buffers keep their capacity between requests. */
struct sl_http_msg {
    struct sl_buf text; /* url, header names and values, each NUL-terminated */
    struct sl_buf body;
    struct sl_http_span *spans;
    struct sl_http_header *headers;
    size_t nspans, spans_cap, headers_cap;
    size_t url_len;
    struct sl_http_req req; /* filled by sl_http_msg_finish */
    bool keep_alive;
    bool http10;
    bool head; /* HEAD request: the response carries no body */
};

void sl_http_msg_init(struct sl_http_msg *msg);
void sl_http_msg_release(struct sl_http_msg *msg);
void sl_http_msg_reset(struct sl_http_msg *msg);

enum sl_http_parse_state {
    SL_HTTP_PARSE_MORE = 0,  /* need more bytes */
    SL_HTTP_PARSE_DONE = 1,  /* one request is complete in msg->req */
    SL_HTTP_PARSE_ERROR = 2, /* err_status/err_code/err_msg say what to answer; then close */
    /* Only with stop_at_headers, once per request: the headers are complete and msg->req has
     * everything but the body (content_length says what is announced). Feed again to go on. */
    SL_HTTP_PARSE_HEADERS = 3,
};

struct sl_http_parse {
    llhttp_t p;
    llhttp_settings_t settings;
    struct sl_http_limits limits;
    struct sl_http_msg *msg;
    enum sl_http_parse_state state;
    size_t hdr_bytes;     /* request line + headers (+ trailers) consumed so far */
    bool started;         /* at least one byte of this request was consumed */
    bool headers_done;    /* on_headers_complete reached */
    bool in_header;       /* between a header name's first byte and its value's end */
    bool paused;          /* llhttp needs llhttp_resume before the next execute */
    bool upgrade;         /* llhttp stopped for an upgrade: the connection cannot go on */
    bool want_continue;   /* Expect: 100-continue accepted: the caller may send 100 Continue */
    bool stop_at_headers; /* set by the caller: report SL_HTTP_PARSE_HEADERS */
    bool kick;            /* headers reported: the next feed runs llhttp even without bytes */
    int err_status;
    const char *err_code;
    char err_msg[160];
};

/* Fills zero fields of `in` (may be NULL) with defaults. */
void sl_http_limits_defaults(const struct sl_http_limits *in, struct sl_http_limits *out);

void sl_http_parse_init(struct sl_http_parse *ps, const struct sl_http_limits *limits);
/* Starts a new request stored into msg (which is reset). */
void sl_http_parse_begin(struct sl_http_parse *ps, struct sl_http_msg *msg);
/* Feeds bytes of the connection. *used says how many were consumed: after DONE the rest belongs
 * to the next request (pipelining). Returns an enum sl_http_parse_state. After ERROR or DONE,
 * further calls return the same state until sl_http_parse_begin. */
int sl_http_parse_feed(struct sl_http_parse *ps, const char *data, size_t len, size_t *used);

#endif
