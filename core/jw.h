/* A small streaming JSON writer into one growing buffer: no tree, no allocation per value.
 * Used for event batches, DLQ entries, metrics-adjacent bodies and JSON logs. */
#ifndef SL_CORE_JW_H
#define SL_CORE_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SL_JW_MAX_DEPTH 64

struct sl_jw {
    struct sl_buf *b;
    int depth;
    bool first[SL_JW_MAX_DEPTH]; /* no value written yet at this depth */
    bool after_key;
    /* Bytes of keys and strings written so far that were not UTF-8 and became U+FFFD: a writer
     * that copies outside text (headers, a query string) can tell the reader so. */
    size_t replaced;
};

void sl_jw_init(struct sl_jw *w, struct sl_buf *b);
void sl_jw_obj_open(struct sl_jw *w);
void sl_jw_obj_close(struct sl_jw *w);
void sl_jw_arr_open(struct sl_jw *w);
void sl_jw_arr_close(struct sl_jw *w);
void sl_jw_key(struct sl_jw *w, const char *k);
void sl_jw_str(struct sl_jw *w, const char *s);
void sl_jw_strn(struct sl_jw *w, const char *s, size_t n);
void sl_jw_int(struct sl_jw *w, int64_t v);
void sl_jw_uint(struct sl_jw *w, uint64_t v);
void sl_jw_bool(struct sl_jw *w, bool v);
void sl_jw_null(struct sl_jw *w);
/* Writes already-encoded JSON text as one value. */
void sl_jw_raw(struct sl_jw *w, const char *json, size_t n);
/* Writes data as a base64 JSON string, encoded straight into the buffer. */
void sl_jw_b64(struct sl_jw *w, const void *data, size_t n);
/* An ISO-8601 UTC time string from epoch milliseconds. */
void sl_jw_time(struct sl_jw *w, int64_t ms);

/* Key + value shorthands. */
void sl_jw_kstr(struct sl_jw *w, const char *k, const char *s);
void sl_jw_kstrn(struct sl_jw *w, const char *k, const char *s, size_t n);
void sl_jw_kint(struct sl_jw *w, const char *k, int64_t v);
void sl_jw_kbool(struct sl_jw *w, const char *k, bool v);

/* Appends s as a quoted JSON string to b: valid UTF-8 unchanged, control bytes escaped, each
 * byte that is not part of a well-formed UTF-8 sequence written as U+FFFD (EF BF BD), so the
 * output is valid JSON whatever s holds. Returns how many bytes were replaced. */
size_t sl_json_escape(struct sl_buf *b, const char *s, size_t n);
/* s escaped as a JSON string (quotes included), a new string the caller frees. For texts
 * computed once and spliced into every event (a topic, a stream name). */
char *sl_json_text(const char *s);

#endif
