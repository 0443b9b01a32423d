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

void sl_attempt_unref(struct sl_attempt *a)
{
    if (a && --a->refs == 0) {
        free(a->response);
        free(a);
    }
}

void sl_record_add_attempt(struct sl_record *r, struct sl_attempt *a)
{
    if (!r->fail)
        r->fail = SL_NEW(struct sl_record_failure);
    struct sl_record_failure *f = r->fail;
    if (f->nhistory == SL_RECORD_MAX_HISTORY) {
        sl_attempt_unref(f->history[0]);
        memmove(f->history, f->history + 1, sizeof(f->history[0]) * (SL_RECORD_MAX_HISTORY - 1));
        f->nhistory--;
    }
    a->refs++;
    f->history[f->nhistory++] = a;
    f->history_total++;
    f->counted_total += a->counted;
}

void sl_record_free(struct sl_record *r)
{
    if (!r)
        return;
    if (r->fail) {
        for (uint32_t i = 0; i < r->fail->nhistory; i++)
            sl_attempt_unref(r->fail->history[i]);
        free(r->fail);
        r->fail = NULL;
    }
    r->ops->release(r);
}

const char *sl_record_id_text(const struct sl_record *r, struct sl_buf *buf)
{
    sl_buf_reset(buf);
    r->ops->write_id(r, buf);
    return buf->data ? buf->data : "";
}

/* ---- text records ---- */

static const struct sl_text_record *text_of(const struct sl_record *r)
{
    return (const struct sl_text_record *)r;
}

static void text_write_id(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_puts(out, text_of(r)->id);
}

static void text_write_coords(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_puts(out, text_of(r)->coords);
}

static void text_write_attrs(const struct sl_record *r, struct sl_buf *out)
{
    sl_buf_puts(out, text_of(r)->attrs);
}

static bool text_matches(const struct sl_record *r, json_t *item)
{
    return json_is_string(item) && strcmp(json_string_value(item), text_of(r)->id) == 0;
}

static void text_release(struct sl_record *r)
{
    free(r);
}

const struct sl_record_ops sl_text_record_ops = {
    .write_id = text_write_id,
    .write_coords = text_write_coords,
    .write_attrs = text_write_attrs,
    .matches = text_matches,
    .release = text_release,
};

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
    struct sl_text_record *t =
        sl_calloc(1, sizeof(*t) + id_len + attrs_len + coords_len + body_len + 4);
    char *cursor = (char *)(t + 1);
    t->base.ops = &sl_text_record_ops;
    t->id = record_put(&cursor, id, id_len);
    t->attrs = record_put(&cursor, attrs, attrs_len);
    t->coords = record_put(&cursor, coords, coords_len);
    /* No body stays no body (a Kafka tombstone), apart from an empty one. */
    t->base.body = body ? (const unsigned char *)record_put(&cursor, body, body_len) : NULL;
    t->base.body_len = body ? body_len : 0;
    t->base.bytes = body_len + attrs_len + id_len + 64;
    return &t->base;
}
