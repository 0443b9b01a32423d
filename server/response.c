#include <string.h>

#include "core/jw.h"
#include "core/log.h"
#include "server/internal.h"

/* An extra header line must be "Name: value" with no CR/LF (no response splitting). */
static bool header_line_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    return colon && colon != h && !strpbrk(h, "\r\n");
}

void sl_http_response_build(struct sl_buf *b, int status, const char *content_type,
                            const char *const *headers, size_t nheaders, const void *body,
                            size_t len, bool keep_alive, bool http10, bool head)
{
    if (status < 100 || status > 599)
        status = 500;
    bool no_body = status < 200 || status == 204 || status == 304;
    /* Every response (each 202 of a push) passes here: no printf-family call. */
    sl_buf_puts(b, "HTTP/1.1 ");
    sl_buf_put_i64(b, status);
    sl_buf_putc(b, ' ');
    sl_buf_puts(b, sl_http_status_text(status));
    sl_buf_puts(b, "\r\n");
    if (content_type && !no_body && !strpbrk(content_type, "\r\n")) {
        sl_buf_puts(b, "Content-Type: ");
        sl_buf_puts(b, content_type);
        sl_buf_puts(b, "\r\n");
    }
    if (!no_body) {
        sl_buf_puts(b, "Content-Length: ");
        sl_buf_put_u64(b, len);
        sl_buf_puts(b, "\r\n");
    }
    if (!keep_alive)
        sl_buf_puts(b, "Connection: close\r\n");
    else if (http10)
        sl_buf_puts(b, "Connection: keep-alive\r\n");
    for (size_t i = 0; i < nheaders; i++) {
        if (!headers[i])
            continue;
        if (!header_line_ok(headers[i])) {
            sl_warn("server:http", "dropping a malformed response header line");
            continue;
        }
        sl_buf_puts(b, headers[i]);
        sl_buf_puts(b, "\r\n");
    }
    sl_buf_puts(b, "\r\n");
    if (!no_body && !head && len > 0)
        sl_buf_append(b, body, len);
}

void sl_http_error_json(struct sl_buf *b, int status, const char *code, const char *message)
{
    struct sl_jw w;
    sl_jw_init(&w, b);
    sl_jw_obj_open(&w);
    sl_jw_kstr(&w, "error", code ? code : "error");
    sl_jw_kstr(&w, "message", message ? message : sl_http_status_text(status));
    sl_jw_obj_close(&w);
}

void sl_http_response_error(struct sl_buf *b, int status, const char *code, const char *message,
                            const char *header, bool keep_alive)
{
    struct sl_buf body;
    sl_buf_init(&body);
    sl_http_error_json(&body, status, code, message);
    const char *const headers[] = {header};
    sl_http_response_build(b, status, "application/json", headers, header ? 1 : 0, body.data,
                           body.len, keep_alive, false, false);
    sl_buf_release(&body);
}
