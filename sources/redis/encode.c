/* The redis source's event shape: Kinesis records
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html), docs/REDIS.md:
 * {"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"...","sequenceNumber":
 *   "<entry id>","data":"<base64 of the fields as JSON>","approximateArrivalTimestamp":
 *   1545084650.987},"eventSource":"sluice:redis","eventVersion":"1.0","eventID":
 *   "<stream>:<entry id>","eventName":"aws:kinesis:record","invokeIdentityArn":"",
 *   "awsRegion":"","eventSourceARN":"redis://host:port/db/stream"}]}
 * Records read from Redis are typed (record.c) and written in one pass from their parts (the
 * stream's texts escaped once per stream). Text records (rebuilt from a DLQ entry for redrive)
 * give everything from their attrs, id, body and time, which the typed record's text forms
 * match byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "sources/redis/redis_int.h"

/* A JSON string of bytes that may not be UTF-8: sl_json_escape writes each bad byte as U+FFFD
 * (and a NUL as \u0000), in one pass without a copy. Returns the bytes replaced. */
static size_t put_text(struct sl_buf *b, const char *s, size_t n)
{
    return sl_json_escape(b, s, n);
}

size_t sl_redis_fields_json(const char *const *v, const size_t *lens, size_t n, struct sl_buf *out)
{
    size_t replaced = 0;
    sl_buf_putc(out, '{');
    for (size_t i = 0; i < n; i += 2) {
        if (i)
            sl_buf_putc(out, ',');
        replaced += put_text(out, v[i], lens[i]);
        sl_buf_putc(out, ':');
        if (i + 1 < n)
            replaced += put_text(out, v[i + 1], lens[i + 1]);
        else
            sl_buf_puts(out, "\"\"");
    }
    sl_buf_putc(out, '}');
    return replaced;
}

/* "<kind><n>\r\n" at d; returns its length (at most 23). */
static size_t resp_head(char *d, char kind, size_t n)
{
    d[0] = kind;
    size_t k = 1 + sl_u64_to_dec((uint64_t)n, d + 1);
    d[k++] = '\r';
    d[k++] = '\n';
    return k;
}

void sl_redis_fields_resp(const char *const *v, const size_t *lens, size_t n, struct sl_buf *out)
{
    /* Sized once: a head of at most 23 bytes per string and the array's, plus the bytes. */
    size_t total = 23;
    for (size_t i = 0; i < n; i++)
        total += 23 + lens[i] + 2;
    char *d = sl_buf_reserve(out, total), *start = d;
    d += resp_head(d, '*', n);
    for (size_t i = 0; i < n; i++) {
        d += resp_head(d, '$', lens[i]);
        if (lens[i])
            memcpy(d, v[i], lens[i]);
        d += lens[i];
        *d++ = '\r';
        *d++ = '\n';
    }
    sl_buf_commit(out, (size_t)(d - start));
}

/* ---- the body of each data_encoding ---- */

typedef bool (*body_fn)(const struct sl_redis_body_spec *spec, const char *const *v,
                        const size_t *lens, size_t n, struct sl_buf *out, size_t *replaced);

static bool body_json(const struct sl_redis_body_spec *spec, const char *const *v,
                      const size_t *lens, size_t n, struct sl_buf *out, size_t *replaced)
{
    *replaced = sl_redis_fields_json(v, lens, n, out);
    return true;
}

static bool body_resp(const struct sl_redis_body_spec *spec, const char *const *v,
                      const size_t *lens, size_t n, struct sl_buf *out, size_t *replaced)
{
    sl_redis_fields_resp(v, lens, n, out);
    return true;
}

/* The raw value of the first field of that name. */
static bool body_field(const struct sl_redis_body_spec *spec, const char *const *v,
                       const size_t *lens, size_t n, struct sl_buf *out, size_t *replaced)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (lens[i] == spec->field_len && memcmp(v[i], spec->field, lens[i]) == 0) {
            sl_buf_append(out, v[i + 1], lens[i + 1]);
            return true;
        }
    }
    sl_redis_fields_resp(v, lens, n, out);
    return false;
}

static const body_fn body_fns[] = {
    [SL_REDIS_DATA_JSON] = body_json,
    [SL_REDIS_DATA_RESP] = body_resp,
    [SL_REDIS_DATA_FIELD] = body_field,
};

bool sl_redis_body(const struct sl_redis_body_spec *spec, const char *const *v, const size_t *lens,
                   size_t n, struct sl_buf *out, size_t *replaced)
{
    *replaced = 0;
    int enc = spec->encoding;
    if (enc < 0 || (size_t)enc >= SL_ARRAY_LEN(body_fns))
        enc = SL_REDIS_DATA_JSON;
    return body_fns[enc](spec, v, lens, n, out, replaced);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* End of the string token starting at p (on its opening quote), or NULL. */
static const char *string_end(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!p[1])
                return NULL;
            p++;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* End of any JSON value starting at p (strings, nesting), or NULL. */
static const char *value_end(const char *p)
{
    if (*p == '"')
        return string_end(p);
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            p = string_end(p);
            if (!p)
                return NULL;
            p--;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 &&
                   (*p == ',' || *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) {
            return p;
        }
    }
    return depth == 0 ? p : NULL;
}

/* A well-formed JSON string token: valid escapes, no raw control bytes, UTF-8 text. */
static bool string_token_ok(const char *tok, size_t len)
{
    static const char hexd[] = "0123456789abcdefABCDEF";
    if (len < 2 || tok[0] != '"' || tok[len - 1] != '"')
        return false;
    const char *p = tok + 1, *end = tok + len - 1;
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20)
            return false;
        if (ch == '\\') {
            if (p + 1 >= end)
                return false;
            char e = p[1];
            if (e == 'u') {
                if (end - p < 6)
                    return false;
                for (int i = 2; i < 6; i++) {
                    if (!memchr(hexd, p[i], sizeof(hexd) - 1))
                        return false;
                }
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return false;
            p += 2;
            continue;
        }
        size_t k = sl_utf8_seq(p, (size_t)(end - p));
        if (k == 0)
            return false;
        p += k;
    }
    return true;
}

bool sl_redis_json_member(const char *obj, const char *key, const char **tok, size_t *len)
{
    if (!obj)
        return false;
    size_t klen = strlen(key);
    const char *p = skip_ws(obj);
    if (*p != '{')
        return false;
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *kend = string_end(p);
        if (!kend)
            return false;
        bool match = (size_t)(kend - p) == klen + 2 && memcmp(p + 1, key, klen) == 0;
        p = skip_ws(kend);
        if (*p != ':')
            return false;
        p = skip_ws(p + 1);
        const char *vend = value_end(p);
        if (!vend || vend == p)
            return false;
        if (match) {
            if (*p != '"' || !string_token_ok(p, (size_t)(vend - p)))
                return false;
            *tok = p;
            *len = (size_t)(vend - p);
            return true;
        }
        p = skip_ws(vend);
        if (*p != ',')
            return false;
        p = skip_ws(p + 1);
    }
    return false;
}

void sl_redis_attrs(const char *stream, const char *pkey, size_t pkey_len, const char *arn,
                    struct sl_buf *out)
{
    sl_buf_puts(out, "{\"stream\":");
    put_text(out, stream, strlen(stream));
    sl_buf_puts(out, ",\"partitionKey\":");
    put_text(out, pkey, pkey_len);
    sl_buf_puts(out, ",\"eventSourceARN\":");
    put_text(out, arn, strlen(arn));
    sl_buf_putc(out, '}');
}

void sl_redis_coords(const char *stream, const char *id, const char *group, const char *consumer,
                     int64_t deliveries, struct sl_buf *out)
{
    sl_buf_puts(out, "{\"stream\":");
    put_text(out, stream, strlen(stream));
    sl_buf_puts(out, ",\"id\":");
    put_text(out, id, strlen(id));
    sl_buf_puts(out, ",\"group\":");
    put_text(out, group, strlen(group));
    sl_buf_puts(out, ",\"consumer\":");
    put_text(out, consumer, strlen(consumer));
    SL_BUF_LIT(out, ",\"deliveries\":");
    sl_buf_put_i64(out, deliveries);
    sl_buf_putc(out, '}');
}

/* Appends the content of a string token (no quotes), or of s escaped. */
static void put_inner(struct sl_buf *b, const char *tok, size_t len, const char *fallback)
{
    if (tok) {
        sl_buf_append(b, tok + 1, len - 2);
        return;
    }
    size_t before = b->len;
    put_text(b, fallback, strlen(fallback));
    /* Drop the quotes put_text wrote. */
    memmove(b->data + before, b->data + before + 1, b->len - before - 2);
    b->len -= 2;
    b->data[b->len] = '\0';
}

/* ,"approximateArrivalTimestamp":<seconds>.<millis, 3 digits>}, */
static void put_arrival(struct sl_buf *b, int64_t time_ms)
{
    uint64_t ms = time_ms > 0 ? (uint64_t)time_ms : 0;
    SL_BUF_LIT(b, ",\"approximateArrivalTimestamp\":");
    char *d = sl_buf_reserve(b, 32), *start = d;
    d += sl_u64_to_dec(ms / 1000, d);
    unsigned frac = (unsigned)(ms % 1000);
    *d++ = '.';
    *d++ = (char)('0' + frac / 100);
    *d++ = (char)('0' + frac / 10 % 10);
    *d++ = (char)('0' + frac % 10);
    *d++ = '}';
    *d++ = ',';
    sl_buf_commit(b, (size_t)(d - start));
}

static void put_data(struct sl_buf *b, const struct sl_record *r)
{
    struct sl_jw w;
    sl_jw_init(&w, b);
    sl_jw_b64(&w, r->body, r->body_len);
}

static const char EVENT_MID[] =
    "\"eventSource\":\"sluice:redis\",\"eventVersion\":\"1.0\",\"eventID\":\"";
static const char EVENT_TAIL[] =
    "\",\"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":\"\","
    "\"awsRegion\":\"\",\"eventSourceARN\":";

/* Added to a record (and its attrs) whose JSON data replaced bytes that are not UTF-8, as the
 * webhook source does: a function that needs the exact bytes knows it did not get them. */
#define UTF8_FLAG ",\"invalidUtf8Replaced\":true"

/* Entry ids from Redis are "<ms>-<seq>": their JSON text is themselves. */
static bool id_plain(const char *id, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((id[i] < '0' || id[i] > '9') && id[i] != '-')
            return false;
    }
    return true;
}

/* A typed record, in one pass from its parts. */
static void encode_typed(const struct sl_redis_record *rr, struct sl_buf *b)
{
    const struct sl_redis_stream_ref *st = rr->st;
    bool plain = id_plain(rr->id, rr->id_len);
    SL_BUF_LIT(b, "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":");
    if (rr->pkey_is_stream)
        sl_buf_append(b, st->name_json, st->name_json_len);
    else
        sl_buf_append(b, rr->buf.data + rr->pkey_off, rr->pkey_len);
    SL_BUF_LIT(b, ",\"sequenceNumber\":");
    if (plain) {
        sl_buf_putc(b, '"');
        sl_buf_append(b, rr->id, rr->id_len);
        sl_buf_putc(b, '"');
    } else {
        put_text(b, rr->id, rr->id_len);
    }
    SL_BUF_LIT(b, ",\"data\":");
    put_data(b, &rr->base);
    put_arrival(b, rr->base.time_ms);
    sl_buf_append(b, EVENT_MID, sizeof(EVENT_MID) - 1);
    sl_buf_append(b, st->name_json + 1, st->name_json_len - 2);
    sl_buf_putc(b, ':');
    if (plain)
        sl_buf_append(b, rr->id, rr->id_len);
    else
        put_inner(b, NULL, 0, rr->id);
    sl_buf_append(b, EVENT_TAIL, sizeof(EVENT_TAIL) - 1);
    sl_buf_append(b, st->arn_json, st->arn_json_len);
    if (rr->utf8_replaced)
        SL_BUF_LIT(b, UTF8_FLAG);
    sl_buf_putc(b, '}');
}

static void encode_record(const char *source_name, const struct sl_record *r, struct sl_buf *b)
{
    const struct sl_redis_record *rr = sl_redis_record_of(r);
    if (rr) {
        encode_typed(rr, b);
        return;
    }
    /* A text record (rebuilt from a DLQ entry): the parts come from its attributes. */
    const struct sl_text_record *t = sl_record_text(r);
    const char *stream = NULL, *pkey = NULL, *arn = NULL;
    size_t stream_len = 0, pkey_len = 0, arn_len = 0;
    if (!sl_redis_json_member(t->attrs, "stream", &stream, &stream_len))
        stream = NULL;
    if (!sl_redis_json_member(t->attrs, "partitionKey", &pkey, &pkey_len))
        pkey = NULL;
    if (!sl_redis_json_member(t->attrs, "eventSourceARN", &arn, &arn_len))
        arn = NULL;
    const char *id = t->id ? t->id : "";

    sl_buf_puts(b, "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":");
    if (pkey)
        sl_buf_append(b, pkey, pkey_len);
    else if (stream)
        sl_buf_append(b, stream, stream_len);
    else
        put_text(b, source_name, strlen(source_name));
    sl_buf_puts(b, ",\"sequenceNumber\":");
    put_text(b, id, strlen(id));
    sl_buf_puts(b, ",\"data\":");
    put_data(b, r);
    put_arrival(b, r->time_ms);
    sl_buf_append(b, EVENT_MID, sizeof(EVENT_MID) - 1);
    put_inner(b, stream, stream_len, source_name);
    sl_buf_putc(b, ':');
    put_inner(b, NULL, 0, id);
    sl_buf_append(b, EVENT_TAIL, sizeof(EVENT_TAIL) - 1);
    if (arn) {
        sl_buf_append(b, arn, arn_len);
    } else {
        sl_buf_puts(b, "\"redis:///");
        put_inner(b, stream, stream_len, source_name);
        sl_buf_putc(b, '"');
    }
    if (t->attrs && strstr(t->attrs, UTF8_FLAG + 1))
        SL_BUF_LIT(b, UTF8_FLAG);
    sl_buf_putc(b, '}');
}

void sl_redis_encode(const char *source_name, struct sl_record *const *rs, size_t n, int format,
                     struct sl_buf *out)
{
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_puts(out, "{\"Records\":");
    sl_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_buf_putc(out, ',');
        encode_record(source_name, rs[i], out);
    }
    sl_buf_putc(out, ']');
    if (format == SL_CFG_FORMAT_LAMBDA)
        sl_buf_putc(out, '}');
}

/* Lambda matches Kinesis filters on `data` decoded as JSON, plus metadata. */

/* approximateArrivalTimestamp: seconds with milliseconds, written exactly. */
static void put_seconds(struct sl_buf *out, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    sl_buf_put_i64(out, ms / 1000);
    char frac[4] = {'.', (char)('0' + ms / 100 % 10), (char)('0' + ms / 10 % 10),
                    (char)('0' + ms % 10)};
    sl_buf_append(out, frac, sizeof(frac));
}

/* A text record (a redrive): its attrs are parsed (not a hot path). */
static void text_meta(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_text_record *t = sl_record_text(r);
    json_t *attrs = json_loads(t->attrs ? t->attrs : "{}", JSON_ALLOW_NUL, NULL);
    json_t *view = json_object();
    json_t *v;
    if (json_is_object(attrs)) {
        if ((v = json_object_get(attrs, "partitionKey")))
            json_object_set(view, "partitionKey", v);
        if ((v = json_object_get(attrs, "eventSourceARN")))
            json_object_set(view, "eventSourceARN", v);
        if ((v = json_object_get(attrs, "invalidUtf8Replaced")))
            json_object_set(view, "invalidUtf8Replaced", v);
        if ((v = json_object_get(attrs, "stream"))) {
            json_object_set(view, "stream", v);
            if (json_is_string(v) && t->id) {
                char *eid = NULL;
                if (asprintf(&eid, "%s:%s", json_string_value(v), t->id) >= 0) {
                    json_object_set_new(view, "eventID", json_string(eid));
                    free(eid);
                }
            }
        }
    }
    json_decref(attrs);
    json_object_set_new(view, "sequenceNumber", json_string(t->id ? t->id : ""));
    char *text = json_dumps(view, JSON_COMPACT);
    json_decref(view);
    size_t n = text ? strlen(text) : 0;
    if (n > 1) {
        sl_buf_append(out, text, n - 1); /* the time is added as for typed records */
        sl_buf_putc(out, ',');
    } else {
        sl_buf_putc(out, '{');
    }
    free(text);
}

static void redis_write_meta(const struct sl_record *r, struct sl_buf *out)
{
    const struct sl_redis_record *rr = sl_redis_record_of(r);
    if (!rr) {
        text_meta(r, out);
    } else {
        /* {"stream":..,"partitionKey":..,"eventSourceARN":..} without its closing brace. */
        size_t at = out->len;
        r->ops->write_attrs(r, out);
        out->len = out->len > at ? out->len - 1 : at;
        const char *name = rr->st->name_json;
        SL_BUF_LIT(out, ",\"eventID\":");
        sl_buf_append(out, name, strlen(name) - 1);
        sl_buf_putc(out, ':');
        sl_buf_append(out, rr->id, rr->id_len);
        SL_BUF_LIT(out, "\",\"sequenceNumber\":\"");
        sl_buf_append(out, rr->id, rr->id_len);
        SL_BUF_LIT(out, "\",");
    }
    SL_BUF_LIT(out, "\"eventSource\":\"sluice:redis\",\"approximateArrivalTimestamp\":");
    put_seconds(out, r->time_ms);
    sl_buf_putc(out, '}');
}

bool sl_redis_filter_view(const struct sl_record *r, struct sl_fview *out)
{
    *out = (struct sl_fview){
        .r = r,
        .data_key = "data",
        .data = r->body,
        .data_len = r->body_len,
        .data_flags = SL_FVIEW_ALLOW_NUL,
        .write_meta = redis_write_meta,
    };
    return true;
}
