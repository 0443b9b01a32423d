#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "demo/fn.h"

int fn_script_parse(struct fn_script *s, const char *json, size_t len, char *msg, size_t cap)
{
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, 0, &jerr);
    if (!json_is_array(doc)) {
        snprintf(msg, cap, "the script must be a JSON array of steps");
        json_decref(doc);
        return -1;
    }
    fn_script_release(s);
    s->n = json_array_size(doc);
    s->steps = sl_calloc(s->n ? s->n : 1, sizeof(*s->steps));
    s->pos = 0;
    for (size_t i = 0; i < s->n; i++) {
        json_t *st = json_array_get(doc, i);
        struct fn_step *p = &s->steps[i];
        json_t *v;
        p->retry_after = -1;
        p->count = 1;
        if (!json_is_object(st)) {
            snprintf(msg, cap, "step %zu is not an object", i);
            json_decref(doc);
            return -1;
        }
        if ((v = json_object_get(st, "status")))
            p->status = (int)json_integer_value(v);
        if ((v = json_object_get(st, "retryAfter")))
            p->retry_after = (int)json_integer_value(v);
        if ((v = json_object_get(st, "delayMs")))
            p->delay_ms = json_integer_value(v);
        if ((v = json_object_get(st, "count")))
            p->count = (int)json_integer_value(v);
        p->reset = json_is_true(json_object_get(st, "reset"));
        p->function_error = json_is_true(json_object_get(st, "functionError"));
        if ((v = json_object_get(st, "body")) && json_is_string(v))
            p->body = sl_strdup(json_string_value(v));
    }
    json_decref(doc);
    return 0;
}

void fn_script_release(struct fn_script *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->steps[i].body);
    free(s->steps);
    s->steps = NULL;
    s->n = 0;
    s->pos = 0;
}

const struct fn_step *fn_script_next(struct fn_script *s)
{
    while (s->pos < s->n) {
        struct fn_step *p = &s->steps[s->pos];
        if (p->count > 0) {
            p->count--;
            return p;
        }
        s->pos++;
    }
    return NULL;
}

static void append_id(struct sl_buf *b, size_t *n, json_t *id)
{
    char *text = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return;
    sl_buf_puts(b, *n ? "," : "");
    sl_buf_puts(b, text);
    free(text);
    (*n)++;
}

void fn_batch_parse(struct fn_batch *b, const char *payload, size_t len)
{
    memset(b, 0, sizeof(*b));
    sl_buf_init(&b->ids);
    sl_buf_init(&b->failed);
    json_t *doc = json_loadb(payload, len, 0, NULL);
    json_t *records = json_is_array(doc) ? doc : json_object_get(doc, "Records");
    size_t i, nids = 0;
    json_t *r;
    sl_buf_putc(&b->ids, '[');
    sl_buf_putc(&b->failed, '[');
    json_array_foreach(records, i, r)
    {
        json_t *id = json_object_get(r, "id");
        json_t *body = json_object_get(r, "body");
        b->n++;
        if (id)
            append_id(&b->ids, &nids, id);
        json_t *inner = json_is_string(body)
                            ? json_loads(json_string_value(body), JSON_DECODE_ANY, NULL)
                            : NULL;
        json_t *fail = json_is_object(inner) ? json_object_get(inner, "fail") : NULL;
        if (fail && (json_is_true(fail) || json_is_string(fail))) {
            if (json_is_string(fail) && strcmp(json_string_value(fail), "partial") == 0)
                b->want_partial = true;
            if (id)
                append_id(&b->failed, &b->nfailed, id);
        }
        json_decref(inner);
    }
    sl_buf_putc(&b->ids, ']');
    sl_buf_putc(&b->failed, ']');
    json_decref(doc);
}

void fn_batch_release(struct fn_batch *b)
{
    sl_buf_release(&b->ids);
    sl_buf_release(&b->failed);
}
