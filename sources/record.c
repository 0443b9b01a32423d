#include "sources/record.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct sl_attempt *sl_attempt_new(void)
{
    struct sl_attempt *a = SL_NEW(struct sl_attempt);
    a->refs = 1;
    return a;
}

static void attempt_ref(struct sl_attempt *a)
{
    a->refs++;
}

void sl_attempt_unref(struct sl_attempt *a)
{
    if (a && --a->refs == 0) {
        free(a->response);
        free(a);
    }
}

void sl_record_add_attempt(struct sl_record *r, struct sl_attempt *a)
{
    if (r->nhistory == SL_RECORD_MAX_HISTORY) {
        sl_attempt_unref(r->history[0]);
        memmove(r->history, r->history + 1, sizeof(r->history[0]) * (SL_RECORD_MAX_HISTORY - 1));
        r->nhistory--;
    }
    attempt_ref(a);
    r->history[r->nhistory++] = a;
    r->history_total++;
}

static char *record_put(char **cursor, const char *s, size_t n)
{
    char *dst = *cursor;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *cursor += n + 1;
    return dst;
}

struct sl_record *sl_record_new(const char *id, const char *attrs, const char *coords,
                                const void *body, size_t body_len)
{
    if (!id)
        id = "";
    if (!attrs)
        attrs = "{}";
    if (!coords)
        coords = "{}";
    size_t id_len = strlen(id), attrs_len = strlen(attrs), coords_len = strlen(coords);
    struct sl_record *r = sl_calloc(1, sizeof(*r) + id_len + attrs_len + coords_len + body_len + 4);
    char *cursor = (char *)(r + 1);
    r->id = record_put(&cursor, id, id_len);
    r->attrs = record_put(&cursor, attrs, attrs_len);
    r->coords = record_put(&cursor, coords, coords_len);
    r->body = (const unsigned char *)record_put(&cursor, body ? body : "", body_len);
    r->body_len = body_len;
    r->bytes = body_len + attrs_len + id_len + 64;
    return r;
}

void sl_record_free(struct sl_record *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nhistory; i++)
        sl_attempt_unref(r->history[i]);
    free(r);
}
