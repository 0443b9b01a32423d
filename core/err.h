/* Error codes and error descriptions shared by every sluice module. */
#ifndef SL_CORE_ERR_H
#define SL_CORE_ERR_H

#include <errno.h>
#include <stdarg.h>

/* Functions return 0 or a negative code: a negated errno where one fits, else one of these. */
enum {
    SL_EBASE = 10000,
    SL_ECONFIG = -(SL_EBASE + 1),    /* invalid configuration */
    SL_EPARSE = -(SL_EBASE + 2),     /* malformed input */
    SL_ESTORE = -(SL_EBASE + 3),     /* embedded store failure */
    SL_ECLOSED = -(SL_EBASE + 4),    /* object is stopping or stopped */
    SL_ENOTFOUND = -(SL_EBASE + 5),  /* no such entry */
    SL_EFULL = -(SL_EBASE + 6),      /* quota or cap reached */
    SL_EUNSUPP = -(SL_EBASE + 7),    /* operation not offered by this implementation */
    SL_ESTORELOST = -(SL_EBASE + 8), /* the store's directory or database file is gone */
    SL_ESCHEMA = -(SL_EBASE + 9),    /* the store's schema version is not one this binary reads */
};

enum sl_err_class {
    SL_ERR_NONE = 0,
    SL_ERR_TRANSIENT, /* may succeed when tried again */
    SL_ERR_PERMANENT, /* will fail again with the same input */
    SL_ERR_FATAL,     /* the process cannot go on */
};

#define SL_ERR_MSG_MAX 512

struct sl_err {
    int code;
    enum sl_err_class cls;
    char msg[SL_ERR_MSG_MAX];
};

/* Fills err (which may be NULL) and returns code, so callers can `return sl_err_set(...)`. */
int sl_err_set(struct sl_err *err, enum sl_err_class cls, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sl_err_clear(struct sl_err *err);

/* A short text for a code: strerror for errno values, a fixed text for SL_E* codes. */
const char *sl_strerror(int code);

#endif
