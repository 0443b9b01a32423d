#include "core/err.h"

#include <stdio.h>
#include <string.h>

static int err_vset(struct sl_err *err, enum sl_err_class cls, int code, const char *fmt,
                    va_list ap)
{
    if (err) {
        err->code = code;
        err->cls = cls;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int sl_err_set(struct sl_err *err, enum sl_err_class cls, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, cls, code, fmt, ap);
    va_end(ap);
    return code;
}

void sl_err_clear(struct sl_err *err)
{
    if (err) {
        err->code = 0;
        err->cls = SL_ERR_NONE;
        err->msg[0] = '\0';
    }
}

const char *sl_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case SL_ECONFIG:
        return "invalid configuration";
    case SL_EPARSE:
        return "malformed input";
    case SL_ESTORE:
        return "store failure";
    case SL_ECLOSED:
        return "closed";
    case SL_ENOTFOUND:
        return "not found";
    case SL_EFULL:
        return "full";
    case SL_EUNSUPP:
        return "not supported";
    case SL_ESTORELOST:
        return "store directory or database file lost";
    case SL_ESCHEMA:
        return "store schema version not supported";
    default:
        return code < 0 && code > -SL_EBASE ? strerror(-code) : "unknown error";
    }
}
