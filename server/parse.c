#include "server/parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

#define SL_HTTP_DEF_MAX_CONNECTIONS    1024
#define SL_HTTP_DEF_MAX_HEADER_BYTES   (16 * 1024)
#define SL_HTTP_DEF_MAX_BODY_BYTES     (6 * 1024 * 1024)
#define SL_HTTP_DEF_REQUEST_TIMEOUT_MS 30000
#define SL_HTTP_DEF_IDLE_TIMEOUT_MS    60000
#define SL_HTTP_DEF_MAX_HEADERS        100
#define SL_HTTP_DEF_MAX_BUFFERED_BYTES (64 * 1024 * 1024)

void sl_http_limits_defaults(const struct sl_http_limits *in, struct sl_http_limits *out)
{
    struct sl_http_limits l = {0};
    if (in)
        l = *in;
    if (l.max_connections == 0)
        l.max_connections = SL_HTTP_DEF_MAX_CONNECTIONS;
    if (l.max_header_bytes == 0)
        l.max_header_bytes = SL_HTTP_DEF_MAX_HEADER_BYTES;
    if (l.max_body_bytes == 0)
        l.max_body_bytes = SL_HTTP_DEF_MAX_BODY_BYTES;
    if (l.request_timeout_ms <= 0)
        l.request_timeout_ms = SL_HTTP_DEF_REQUEST_TIMEOUT_MS;
    if (l.idle_timeout_ms <= 0)
        l.idle_timeout_ms = SL_HTTP_DEF_IDLE_TIMEOUT_MS;
    if (l.max_headers == 0)
        l.max_headers = SL_HTTP_DEF_MAX_HEADERS;
    if (l.max_buffered_bytes == 0)
        l.max_buffered_bytes = SL_HTTP_DEF_MAX_BUFFERED_BYTES;
    /* Below one largest body, a request within max_body_bytes could never be taken: its 503
     * would send the client into retries that cannot succeed. */
    if (l.max_buffered_bytes < l.max_body_bytes)
        l.max_buffered_bytes = l.max_body_bytes;
    *out = l;
}

void sl_http_msg_init(struct sl_http_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    sl_buf_init(&msg->text);
    sl_buf_init(&msg->body);
}

void sl_http_msg_release(struct sl_http_msg *msg)
{
    if (!msg)
        return;
    sl_buf_release(&msg->text);
    sl_buf_release(&msg->body);
    free(msg->spans);
    free(msg->headers);
    sl_http_msg_init(msg);
}

void sl_http_msg_reset(struct sl_http_msg *msg)
{
    sl_buf_reset(&msg->text);
    sl_buf_reset(&msg->body);
    msg->nspans = 0;
    msg->url_len = 0;
    memset(&msg->req, 0, sizeof(msg->req));
    msg->keep_alive = false;
    msg->http10 = false;
    msg->head = false;
}

static struct sl_http_parse *parse_of(llhttp_t *p)
{
    return (struct sl_http_parse *)p->data;
}

__attribute__((format(printf, 4, 5))) static int parse_fail(struct sl_http_parse *ps, int status,
                                                            const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ps->err_status = status;
    ps->err_code = code;
    vsnprintf(ps->err_msg, sizeof(ps->err_msg), fmt, ap);
    va_end(ap);
    return HPE_USER;
}

/* Trailer bytes (after a chunked body) count against the header limit and are not kept. */
static int count_trailer(struct sl_http_parse *ps, size_t len)
{
    ps->hdr_bytes += len;
    if (ps->hdr_bytes > ps->limits.max_header_bytes)
        return parse_fail(ps, 431, "headers_too_large", "request headers exceed %zu bytes",
                          ps->limits.max_header_bytes);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct sl_http_parse *ps = parse_of(p);
    sl_buf_append(&ps->msg->text, at, len);
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    struct sl_http_parse *ps = parse_of(p);
    ps->msg->url_len = ps->msg->text.len;
    sl_buf_putc(&ps->msg->text, '\0');
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct sl_http_parse *ps = parse_of(p);
    struct sl_http_msg *msg = ps->msg;
    if (ps->headers_done)
        return count_trailer(ps, len);
    if (!ps->in_header) {
        if (msg->nspans >= ps->limits.max_headers)
            return parse_fail(ps, 431, "headers_too_large", "more than %zu request headers",
                              ps->limits.max_headers);
        if (msg->nspans == msg->spans_cap) {
            msg->spans_cap = msg->spans_cap ? msg->spans_cap * 2 : 16;
            msg->spans = sl_realloc(msg->spans, msg->spans_cap * sizeof(*msg->spans));
        }
        struct sl_http_span *sp = &msg->spans[msg->nspans++];
        memset(sp, 0, sizeof(*sp));
        sp->name_off = msg->text.len;
        ps->in_header = true;
    }
    sl_buf_append(&msg->text, at, len);
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct sl_http_parse *ps = parse_of(p);
    struct sl_http_msg *msg = ps->msg;
    if (ps->headers_done || !ps->in_header)
        return 0;
    struct sl_http_span *sp = &msg->spans[msg->nspans - 1];
    sp->name_len = msg->text.len - sp->name_off;
    sl_buf_putc(&msg->text, '\0');
    sp->value_off = msg->text.len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct sl_http_parse *ps = parse_of(p);
    if (ps->headers_done)
        return count_trailer(ps, len);
    if (ps->in_header)
        sl_buf_append(&ps->msg->text, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct sl_http_parse *ps = parse_of(p);
    struct sl_http_msg *msg = ps->msg;
    if (ps->headers_done || !ps->in_header)
        return 0;
    struct sl_http_span *sp = &msg->spans[msg->nspans - 1];
    size_t len = msg->text.len - sp->value_off;
    while (len > 0 && (msg->text.data[sp->value_off + len - 1] == ' ' ||
                       msg->text.data[sp->value_off + len - 1] == '\t'))
        len--;
    sp->value_len = len;
    msg->text.data[sp->value_off + len] = '\0';
    sl_buf_putc(&msg->text, '\0');
    ps->in_header = false;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct sl_http_parse *ps = parse_of(p);
    ps->headers_done = true;
    /* Pause so the feed loop knows exactly where the headers end and can check limits. */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct sl_http_parse *ps = parse_of(p);
    struct sl_http_msg *msg = ps->msg;
    if (len > ps->limits.max_body_bytes || msg->body.len > ps->limits.max_body_bytes - len)
        return parse_fail(ps, 413, "payload_too_large", "request body exceeds %zu bytes",
                          ps->limits.max_body_bytes);
    sl_buf_append(&msg->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct sl_http_parse *ps = parse_of(p);
    ps->msg->keep_alive = llhttp_should_keep_alive(p) != 0;
    ps->state = SL_HTTP_PARSE_DONE;
    return HPE_PAUSED;
}

void sl_http_parse_init(struct sl_http_parse *ps, const struct sl_http_limits *limits)
{
    memset(ps, 0, sizeof(*ps));
    sl_http_limits_defaults(limits, &ps->limits);
    llhttp_settings_init(&ps->settings);
    ps->settings.on_url = on_url;
    ps->settings.on_url_complete = on_url_complete;
    ps->settings.on_header_field = on_header_field;
    ps->settings.on_header_field_complete = on_header_field_complete;
    ps->settings.on_header_value = on_header_value;
    ps->settings.on_header_value_complete = on_header_value_complete;
    ps->settings.on_headers_complete = on_headers_complete;
    ps->settings.on_body = on_body;
    ps->settings.on_message_complete = on_message_complete;
    llhttp_init(&ps->p, HTTP_REQUEST, &ps->settings);
    ps->p.data = ps;
}

void sl_http_parse_begin(struct sl_http_parse *ps, struct sl_http_msg *msg)
{
    ps->msg = msg;
    sl_http_msg_reset(msg);
    ps->state = SL_HTTP_PARSE_MORE;
    ps->hdr_bytes = 0;
    ps->started = false;
    ps->headers_done = false;
    ps->in_header = false;
    ps->want_continue = false;
    ps->kick = false;
    ps->err_status = 0;
    ps->err_code = NULL;
    ps->err_msg[0] = '\0';
}

static bool header_is(const struct sl_http_msg *msg, const struct sl_http_span *sp,
                      const char *name)
{
    return sp->name_len == strlen(name) &&
           strncasecmp(msg->text.data + sp->name_off, name, sp->name_len) == 0;
}

/* A header value for an error message: printable ASCII only (the message also goes to the log),
 * cut at cap - 1 bytes. */
static void value_excerpt(const char *v, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    out[k] = '\0';
}

/* Only the chunked coding is understood: with any other (gzip, "gzip, chunked") the handler
 * would get the body still encoded and store it as if it were the content. RFC 9112 6.1: a
 * server answers 501 to a transfer coding it does not understand. */
static int check_transfer_encoding(struct sl_http_parse *ps)
{
    struct sl_http_msg *msg = ps->msg;
    const struct sl_http_span *te = NULL;
    size_t count = 0;
    for (size_t i = 0; i < msg->nspans; i++) {
        if (header_is(msg, &msg->spans[i], "transfer-encoding")) {
            te = te ? te : &msg->spans[i];
            count++;
        }
    }
    if (count == 0)
        return 0;
    const char *v = msg->text.data + te->value_off;
    if (count == 1 && te->value_len == 7 && strncasecmp(v, "chunked", 7) == 0)
        return 0;
    char shown[64];
    value_excerpt(v, te->value_len, shown, sizeof(shown));
    parse_fail(ps, 501, "unsupported_transfer_encoding",
               "Transfer-Encoding \"%s\"%s is not supported: send the body with Content-Length "
               "or Transfer-Encoding: chunked alone",
               shown, count > 1 ? " (and more)" : "");
    return -1;
}

/* Limits and expectations known once the headers are in. */
static int check_headers(struct sl_http_parse *ps)
{
    struct sl_http_msg *msg = ps->msg;
    llhttp_t *p = &ps->p;
    if (check_transfer_encoding(ps) < 0)
        return -1;
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool has_len = (p->flags & F_CONTENT_LENGTH) != 0;
    if (has_len && p->content_length > ps->limits.max_body_bytes) {
        parse_fail(ps, 413, "payload_too_large", "request body exceeds %zu bytes",
                   ps->limits.max_body_bytes);
        return -1;
    }
    bool has_body = chunked || (has_len && p->content_length > 0);
    if (!has_body || p->http_major != 1 || p->http_minor < 1)
        return 0;
    for (size_t i = 0; i < msg->nspans; i++) {
        const struct sl_http_span *sp = &msg->spans[i];
        if (header_is(msg, sp, "expect") && sp->value_len == 12 &&
            strncasecmp(msg->text.data + sp->value_off, "100-continue", 12) == 0)
            ps->want_continue = true;
    }
    return 0;
}

/* Builds msg->req but its body from the stored offsets, once the headers are complete: the text
 * buffer no longer moves (trailers are counted, not kept). */
static void build_head(struct sl_http_parse *ps)
{
    struct sl_http_msg *msg = ps->msg;
    struct sl_http_req *req = &msg->req;
    if (msg->headers_cap < msg->nspans) {
        msg->headers_cap = msg->nspans;
        msg->headers = sl_realloc(msg->headers, msg->headers_cap * sizeof(*msg->headers));
    }
    if (msg->text.len == 0) /* no url callback: cannot happen for a valid request */
        sl_buf_putc(&msg->text, '\0');
    char *url = msg->text.data;
    char *q = memchr(url, '?', msg->url_len);
    req->method = llhttp_method_name((llhttp_method_t)ps->p.method);
    req->path = url;
    if (q) {
        *q = '\0';
        req->path_len = (size_t)(q - url);
        req->query = q + 1;
        req->query_len = msg->url_len - req->path_len - 1;
    } else {
        req->path_len = msg->url_len;
        req->query = url + msg->url_len; /* the NUL after the url */
        req->query_len = 0;
    }
    for (size_t i = 0; i < msg->nspans; i++) {
        const struct sl_http_span *sp = &msg->spans[i];
        msg->headers[i].name = msg->text.data + sp->name_off;
        msg->headers[i].name_len = sp->name_len;
        msg->headers[i].value = msg->text.data + sp->value_off;
        msg->headers[i].value_len = sp->value_len;
    }
    req->headers = msg->headers;
    req->nheaders = msg->nspans;
    req->body = "";
    req->body_len = 0;
    if (ps->p.flags & F_CHUNKED)
        req->content_length = -1;
    else if (ps->p.flags & F_CONTENT_LENGTH)
        req->content_length = (int64_t)ps->p.content_length;
    else
        req->content_length = 0;
    req->peer = "";
    msg->http10 = ps->p.http_major == 1 && ps->p.http_minor == 0;
    msg->head = ps->p.method == HTTP_HEAD;
}

static void finish_request(struct sl_http_parse *ps)
{
    struct sl_http_msg *msg = ps->msg;
    struct sl_http_req *req = &msg->req;
    req->body = msg->body.data ? msg->body.data : "";
    req->body_len = msg->body.len;
    if (ps->upgrade || ps->p.upgrade)
        msg->keep_alive = false; /* no protocol switch: the connection closes after this */
}

static int parse_error(struct sl_http_parse *ps, llhttp_errno_t e)
{
    if (ps->err_status == 0 && e == HPE_INVALID_TRANSFER_ENCODING) {
        /* llhttp refuses a coding after "chunked" ("chunked, gzip") while it reads the value. */
        parse_fail(ps, 501, "unsupported_transfer_encoding",
                   "this Transfer-Encoding is not supported: send the body with Content-Length "
                   "or Transfer-Encoding: chunked alone");
    }
    if (ps->err_status == 0) {
        const char *reason = llhttp_get_error_reason(&ps->p);
        ps->err_status = 400;
        ps->err_code = "bad_request";
        snprintf(ps->err_msg, sizeof(ps->err_msg), "malformed request: %s (%s)",
                 reason ? reason : "parse error", llhttp_errno_name(e));
    }
    ps->state = SL_HTTP_PARSE_ERROR;
    return ps->state;
}

int sl_http_parse_feed(struct sl_http_parse *ps, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (ps->state != SL_HTTP_PARSE_MORE)
        return ps->state;
    /* Run the parser once more without bytes (after a pause): llhttp only reaches the end of a
     * message without a body when it is called again. */
    bool kick = ps->kick;
    ps->kick = false;
    while (*used < len || kick) {
        kick = false;
        const char *start = data + *used;
        size_t n = len - *used;
        bool in_headers = !ps->headers_done;
        if (in_headers) {
            size_t room = ps->limits.max_header_bytes - ps->hdr_bytes + 1;
            if (n > room)
                n = room;
        }
        if (ps->paused) {
            llhttp_resume(&ps->p);
            ps->paused = false;
        }
        llhttp_errno_t e = llhttp_execute(&ps->p, start, n);
        size_t took = n;
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&ps->p);
            took = pos && pos >= start && pos <= start + n ? (size_t)(pos - start) : n;
            ps->paused = true;
            if (e == HPE_PAUSED_UPGRADE)
                ps->upgrade = true;
        } else if (e != HPE_OK) {
            return parse_error(ps, e);
        }
        *used += took;
        if (took > 0)
            ps->started = true;
        if (in_headers) {
            ps->hdr_bytes += took;
            if (ps->hdr_bytes > ps->limits.max_header_bytes) {
                parse_fail(ps, 431, "headers_too_large", "request headers exceed %zu bytes",
                           ps->limits.max_header_bytes);
                ps->state = SL_HTTP_PARSE_ERROR;
                return ps->state;
            }
            if (ps->headers_done) {
                if (check_headers(ps) < 0) {
                    ps->state = SL_HTTP_PARSE_ERROR;
                    return ps->state;
                }
                build_head(ps);
                if (ps->stop_at_headers) {
                    ps->kick = true;
                    return SL_HTTP_PARSE_HEADERS;
                }
                kick = true;
            }
        }
        if (ps->upgrade && ps->state != SL_HTTP_PARSE_DONE) {
            /* An upgrade that did not complete a message: nothing more can be parsed. */
            ps->err_status = 400;
            ps->err_code = "bad_request";
            snprintf(ps->err_msg, sizeof(ps->err_msg), "%s", "protocol upgrade not supported");
            ps->state = SL_HTTP_PARSE_ERROR;
            return ps->state;
        }
        if (ps->state == SL_HTTP_PARSE_DONE) {
            finish_request(ps);
            return ps->state;
        }
    }
    return ps->state;
}
