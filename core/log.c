#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/jw.h"
#include "core/time.h"
#include "core/utf8.h"

enum sl_log_level sl_log_threshold = SL_LOG_INFO;
static enum sl_log_format log_format = SL_LOG_TEXT;
static char log_instance[64] = "sluice";

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void sl_log_setup(enum sl_log_level level, enum sl_log_format format, const char *instance)
{
    sl_log_threshold = level;
    log_format = format;
    if (instance && *instance)
        snprintf(log_instance, sizeof(log_instance), "%s", instance);
}

static const char *level_name(enum sl_log_level level)
{
    return level <= SL_LOG_OFF ? level_names[level] : "?";
}

/* Text lines carry the message as text: a control byte or a byte that is not UTF-8 (client
 * bytes in a message: a path, a header) is written as \xHH, so no message can start a line of
 * its own or send terminal escapes. */
static void put_text(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : sl_utf8_multi(p + i, n - i);
        if (len > 1 || (len == 1 && c >= 0x20 && c != 0x7f) || c == '\t') {
            sl_buf_append(b, (const char *)p + i, len ? len : 1);
            i += len ? len : 1;
            continue;
        }
        char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        sl_buf_append(b, esc, sizeof(esc));
        i++;
    }
}

void sl_log_write(enum sl_log_level level, const char *scope, const char *fmt, ...)
{
    char ts[32];
    char msg[2048];
    struct sl_buf b;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_time_fmt_iso(sl_now_ms(), ts, sizeof(ts));
    sl_buf_init(&b);
    if (log_format == SL_LOG_JSON) {
        struct sl_jw w;
        sl_jw_init(&w, &b);
        sl_jw_obj_open(&w);
        sl_jw_kstr(&w, "ts", ts);
        sl_jw_kstr(&w, "level", level_name(level));
        sl_jw_kstr(&w, "instance", log_instance);
        if (scope)
            sl_jw_kstr(&w, "scope", scope);
        sl_jw_kstr(&w, "msg", msg);
        sl_jw_obj_close(&w);
    } else {
        sl_buf_printf(&b, "%s %-5s %s", ts, level_name(level), log_instance);
        if (scope)
            sl_buf_printf(&b, " [%s]", scope);
        sl_buf_putc(&b, ' ');
        put_text(&b, msg);
    }
    sl_buf_putc(&b, '\n');
    ssize_t n = write(STDERR_FILENO, b.data, b.len);
    (void)n;
    sl_buf_release(&b);
}
