/* Structured logging: text or JSON lines on stderr, one write per line, level checked first. */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

enum sl_log_level {
    SL_LOG_DEBUG = 0,
    SL_LOG_INFO,
    SL_LOG_WARN,
    SL_LOG_ERROR,
    SL_LOG_OFF,
};

enum sl_log_format {
    SL_LOG_TEXT = 0,
    SL_LOG_JSON,
};

/* The process-wide threshold: set once at start-up, read everywhere. */
extern enum sl_log_level sl_log_threshold;

void sl_log_setup(enum sl_log_level level, enum sl_log_format format, const char *instance);
/* scope is the component prefix, e.g. "source:http:orders"; may be NULL. */
void sl_log_write(enum sl_log_level level, const char *scope, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sl_log(level, scope, ...)                                                                  \
    do {                                                                                           \
        if ((level) >= sl_log_threshold)                                                           \
            sl_log_write((level), (scope), __VA_ARGS__);                                           \
    } while (0)
#define sl_debug(scope, ...) sl_log(SL_LOG_DEBUG, scope, __VA_ARGS__)
#define sl_info(scope, ...)  sl_log(SL_LOG_INFO, scope, __VA_ARGS__)
#define sl_warn(scope, ...)  sl_log(SL_LOG_WARN, scope, __VA_ARGS__)
#define sl_error(scope, ...) sl_log(SL_LOG_ERROR, scope, __VA_ARGS__)

#endif
