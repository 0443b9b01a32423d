#include "core/url.h"

#include <string.h>
#include <strings.h>

static const char *mem_find(const char *p, const char *end, char ch)
{
    const char *q = memchr(p, ch, (size_t)(end - p));
    return q ? q : end;
}

/* One query (without '?'): names kept, values hidden. */
static void redact_query(struct sl_buf *b, const char *p, const char *end)
{
    while (p < end) {
        const char *amp = mem_find(p, end, '&');
        const char *eq = mem_find(p, amp, '=');
        if (eq < amp) {
            sl_buf_append(b, p, (size_t)(eq - p + 1));
            if (eq + 1 < amp)
                sl_buf_puts(b, SL_URL_REDACTED);
        } else if (amp > p) {
            /* "?s3cret": a bare parameter may itself be the key. */
            sl_buf_puts(b, SL_URL_REDACTED);
        }
        if (amp < end)
            sl_buf_putc(b, '&');
        p = amp + 1;
    }
}

void sl_url_redact_append(struct sl_buf *b, const char *url, size_t len)
{
    const char *end = url + len, *p = url;
    const char *scheme = NULL;
    for (const char *q = url; end - q > 2; q++) {
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            scheme = q + 3;
            break;
        }
        if (q[0] == '/' || q[0] == '?' || q[0] == '#')
            break;
    }
    if (scheme) {
        const char *auth_end = scheme;
        while (auth_end < end && !strchr("/?#", *auth_end))
            auth_end++;
        /* The last '@' ends the userinfo: a password may hold an unencoded '@'. */
        const char *at = NULL;
        for (const char *q = scheme; q < auth_end; q++) {
            if (*q == '@')
                at = q;
        }
        if (at) {
            sl_buf_append(b, url, (size_t)(scheme - url));
            sl_buf_puts(b, "***");
            p = at;
        }
    }
    const char *hash = mem_find(p, end, '#');
    const char *qm = mem_find(p, hash, '?');
    sl_buf_append(b, p, (size_t)(qm - p));
    if (qm < hash) {
        sl_buf_putc(b, '?');
        redact_query(b, qm + 1, hash);
    }
    if (hash < end) {
        sl_buf_putc(b, '#');
        if (hash + 1 < end)
            sl_buf_puts(b, SL_URL_REDACTED);
    }
}

char *sl_url_redact(const char *url)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_url_redact_append(&b, url ? url : "", url ? strlen(url) : 0);
    return sl_buf_steal(&b, NULL);
}

void sl_url_redact_text(struct sl_buf *b, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *u = p;
        while (*u && strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
            u++;
        sl_buf_append(b, p, (size_t)(u - p));
        if (!*u)
            break;
        size_t n = strcspn(u, " \t\r\n\"'<>`");
        sl_url_redact_append(b, u, n);
        p = u + n;
    }
}
