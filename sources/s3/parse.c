/* Notification bodies to Lambda S3 records (parse.h). A body is parsed with jansson once per
 * request (intake, not the delivery path); each record is written into the batch's one text
 * buffer in the field order of Lambda's S3 event, "s3" last (encode.c finds it there for
 * filter views). Members a store adds that Lambda's record does not have (MinIO's "source",
 * Ceph's "eventId" and "opaqueData", an object's "userMetadata", "metadata" or "tags") are
 * kept after the known ones. */
#include "sources/s3/parse.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "core/mem.h"

/* Copied objects (userIdentity, userMetadata, ...) nest no deeper than this. */
#define S3_MAX_COPY_DEPTH 16

struct note_offs {
    size_t json, json_len, bucket, bucket_len, key, key_len, key_enc, key_enc_len, seq, seq_len;
};

struct parse_ctx {
    struct sl_s3_batch *b;
    struct note_offs *offs;
    char *why;
    size_t why_len;
};

void sl_s3_batch_init(struct sl_s3_batch *b)
{
    memset(b, 0, sizeof(*b));
    sl_buf_init(&b->text);
}

void sl_s3_batch_release(struct sl_s3_batch *b)
{
    free(b->v);
    sl_buf_release(&b->text);
    memset(b, 0, sizeof(*b));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void sl_s3_key_decode(struct sl_buf *out, const char *key, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        if (c == '+') {
            sl_buf_putc(out, ' ');
        } else if (c == '%' && i + 2 < len && hexval((unsigned char)key[i + 1]) >= 0 &&
                   hexval((unsigned char)key[i + 2]) >= 0) {
            sl_buf_putc(out, (char)(hexval((unsigned char)key[i + 1]) * 16 +
                                    hexval((unsigned char)key[i + 2])));
            i += 2;
        } else {
            sl_buf_putc(out, c);
        }
    }
}

void sl_s3_key_encode(struct sl_buf *out, const char *key, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            sl_buf_putc(out, (char)c);
        } else if (c == ' ') {
            sl_buf_putc(out, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sl_buf_append(out, e, 3);
        }
    }
}

uint32_t sl_s3_lane(const char *text, size_t len, uint32_t nlanes)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    return nlanes ? (uint32_t)(h % nlanes) : 0;
}

/* "Records[i]<field> is <what>" */
static int fail(struct parse_ctx *c, size_t i, const char *field, const char *what)
{
    snprintf(c->why, c->why_len, "Records[%zu]%s is %s", i, field, what);
    return SL_S3_PARSE_INVALID;
}

/* Writes a jansson value through the writer (strings stay valid JSON whatever they hold). */
static int copy_value(struct sl_jw *w, json_t *v, int depth)
{
    if (depth > S3_MAX_COPY_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *m;
        sl_jw_obj_open(w);
        json_object_foreach(v, k, m)
        {
            sl_jw_key(w, k);
            if (copy_value(w, m, depth + 1) < 0)
                return -1;
        }
        sl_jw_obj_close(w);
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *m;
        sl_jw_arr_open(w);
        json_array_foreach(v, i, m)
        {
            if (copy_value(w, m, depth + 1) < 0)
                return -1;
        }
        sl_jw_arr_close(w);
        return 0;
    }
    case JSON_STRING:
        sl_jw_strn(w, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        sl_jw_int(w, json_integer_value(v));
        return 0;
    case JSON_REAL: {
        char num[32];
        int n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        sl_jw_raw(w, num, (size_t)n);
        return 0;
    }
    case JSON_TRUE:
        sl_jw_bool(w, true);
        return 0;
    case JSON_FALSE:
        sl_jw_bool(w, false);
        return 0;
    default:
        sl_jw_null(w);
        return 0;
    }
}

static bool is_known(const char *k, const char *const *known)
{
    for (size_t i = 0; known[i]; i++) {
        if (strcmp(k, known[i]) == 0)
            return true;
    }
    return false;
}

/* Copies the members of obj that are not in known, after the ones written already. */
static int copy_extras(struct sl_jw *w, json_t *obj, const char *const *known)
{
    const char *k;
    json_t *m;
    json_object_foreach(obj, k, m)
    {
        if (is_known(k, known))
            continue;
        sl_jw_key(w, k);
        if (copy_value(w, m, 1) < 0)
            return -1;
    }
    return 0;
}

/* A string member, or def when it is absent or not a string. */
static const char *str_or(json_t *obj, const char *k, const char *def, size_t *len)
{
    json_t *v = json_object_get(obj, k);
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    *len = strlen(def);
    return def;
}

/* An object member copied, or def (JSON text) when absent. */
static int copy_obj_or(struct sl_jw *w, json_t *obj, const char *k, const char *def)
{
    json_t *v = json_object_get(obj, k);
    sl_jw_key(w, k);
    if (json_is_object(v))
        return copy_value(w, v, 1);
    sl_jw_raw(w, def, strlen(def));
    return 0;
}

/* "size" as a number; Ceph has sent it as a numeric string. Absent (a delete): -1. */
static int object_size(json_t *obj, int64_t *size)
{
    json_t *v = json_object_get(obj, "size");
    *size = -1;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *size = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0 || n > 19)
            return -1;
        int64_t x = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            x = x * 10 + (s[i] - '0');
        }
        *size = x;
        return 0;
    }
    return -1;
}

static const char *const known_top[] = {
    "eventVersion", "eventSource",       "awsRegion",        "eventTime", "eventName",
    "userIdentity", "requestParameters", "responseElements", "s3",        NULL,
};
static const char *const known_s3[] = {"s3SchemaVersion", "configurationId", "bucket", "object",
                                       NULL};
static const char *const known_bucket[] = {"name", "ownerIdentity", "arn", NULL};
static const char *const known_object[] = {"key", "size", "eTag", "versionId", "sequencer", NULL};

static int parse_record(struct parse_ctx *c, size_t i, json_t *rec, uint64_t nonce)
{
    struct sl_s3_batch *b = c->b;
    struct note_offs *o = &c->offs[i];
    if (!json_is_object(rec))
        return fail(c, i, "", "not an object");
    json_t *s3 = json_object_get(rec, "s3");
    if (!json_is_object(s3))
        return fail(c, i, ".s3", s3 ? "not an object" : "missing");
    json_t *bucket = json_object_get(s3, "bucket");
    if (!json_is_object(bucket))
        return fail(c, i, ".s3.bucket", bucket ? "not an object" : "missing");
    json_t *object = json_object_get(s3, "object");
    if (!json_is_object(object))
        return fail(c, i, ".s3.object", object ? "not an object" : "missing");
    json_t *name = json_object_get(bucket, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > SL_S3_MAX_BUCKET_BYTES)
        return fail(c, i, ".s3.bucket.name", name ? "not a string of 1 to 255 bytes" : "missing");
    json_t *key = json_object_get(object, "key");
    if (!json_is_string(key) || json_string_length(key) == 0)
        return fail(c, i, ".s3.object.key", key ? "not a non-empty string" : "missing");
    size_t en_len, es_len;
    const char *en = str_or(rec, "eventName", "", &en_len);
    if (en_len == 0)
        return fail(c, i, ".eventName", "missing or empty");
    /* MinIO writes "s3:ObjectCreated:Put"; S3, Lambda and Ceph write "ObjectCreated:Put". */
    if (en_len > 3 && strncmp(en, "s3:", 3) == 0) {
        en += 3;
        en_len -= 3;
    }
    const char *esrc = str_or(rec, "eventSource", "", &es_len);
    int64_t size;
    if (object_size(object, &size) < 0)
        return fail(c, i, ".s3.object.size", "not a whole number");
    size_t seq_len;
    const char *seq = str_or(object, "sequencer", "", &seq_len);
    if (seq_len > SL_S3_MAX_SEQUENCER_BYTES)
        return fail(c, i, ".s3.object.sequencer", "longer than 64 bytes");

    struct sl_buf *t = &b->text;
    /* What is written into t again later is copied out of it first (t moves as it grows). */
    char key_dec[SL_S3_MAX_KEY_BYTES], key_enc[3 * SL_S3_MAX_KEY_BYTES], made[40];
    /* The key decoded: Ceph sends it as it is; MinIO (url.QueryEscape) and S3 encode it. */
    o->key = t->len;
    const char *k = json_string_value(key);
    size_t klen = json_string_length(key);
    if (es_len == 7 && memcmp(esrc, "ceph:s3", 7) == 0)
        sl_buf_append(t, k, klen);
    else
        sl_s3_key_decode(t, k, klen);
    o->key_len = t->len - o->key;
    if (o->key_len > SL_S3_MAX_KEY_BYTES)
        return fail(c, i, ".s3.object.key", "longer than 1024 bytes decoded");
    memcpy(key_dec, t->data + o->key, o->key_len);
    o->key_enc = t->len;
    sl_s3_key_encode(t, key_dec, o->key_len);
    o->key_enc_len = t->len - o->key_enc;
    memcpy(key_enc, t->data + o->key_enc, o->key_enc_len);
    o->bucket = t->len;
    sl_buf_append(t, json_string_value(name), json_string_length(name));
    o->bucket_len = t->len - o->bucket;
    if (!seq_len) {
        int m = snprintf(made, sizeof(made), "%016llX%04zX", (unsigned long long)nonce, i);
        seq = made;
        seq_len = (size_t)m;
    }
    o->seq = t->len;
    sl_buf_append(t, seq, seq_len);
    o->seq_len = seq_len;

    o->json = t->len;
    struct sl_jw w;
    sl_jw_init(&w, t);
    sl_jw_obj_open(&w);
    size_t n;
    const char *s = str_or(rec, "eventVersion", "2.1", &n);
    sl_jw_kstrn(&w, "eventVersion", s, n);
    /* Stock handlers check for "aws:s3" (docs/S3.md). */
    sl_jw_kstr(&w, "eventSource", "aws:s3");
    s = str_or(rec, "awsRegion", "", &n);
    sl_jw_kstrn(&w, "awsRegion", s, n);
    s = str_or(rec, "eventTime", "", &n);
    sl_jw_kstrn(&w, "eventTime", s, n);
    sl_jw_kstrn(&w, "eventName", en, en_len);
    int bad = copy_obj_or(&w, rec, "userIdentity", "{\"principalId\":\"\"}");
    bad |= copy_obj_or(&w, rec, "requestParameters", "{\"sourceIPAddress\":\"\"}");
    bad |= copy_obj_or(&w, rec, "responseElements", "{}");
    bad |= copy_extras(&w, rec, known_top);

    sl_jw_key(&w, "s3");
    sl_jw_obj_open(&w);
    s = str_or(s3, "s3SchemaVersion", "1.0", &n);
    sl_jw_kstrn(&w, "s3SchemaVersion", s, n);
    s = str_or(s3, "configurationId", "", &n);
    sl_jw_kstrn(&w, "configurationId", s, n);
    sl_jw_key(&w, "bucket");
    sl_jw_obj_open(&w);
    sl_jw_kstrn(&w, "name", json_string_value(name), json_string_length(name));
    bad |= copy_obj_or(&w, bucket, "ownerIdentity", "{\"principalId\":\"\"}");
    json_t *arn = json_object_get(bucket, "arn");
    sl_jw_key(&w, "arn");
    if (json_is_string(arn) && json_string_length(arn) > 0) {
        sl_jw_strn(&w, json_string_value(arn), json_string_length(arn));
    } else {
        /* The ARN S3 gives a bucket: arn:aws:s3:::name. */
        char a[sizeof("arn:aws:s3:::") + SL_S3_MAX_BUCKET_BYTES];
        size_t pre = sizeof("arn:aws:s3:::") - 1;
        memcpy(a, "arn:aws:s3:::", pre);
        memcpy(a + pre, json_string_value(name), json_string_length(name));
        sl_jw_strn(&w, a, pre + json_string_length(name));
    }
    bad |= copy_extras(&w, bucket, known_bucket);
    sl_jw_obj_close(&w);
    sl_jw_key(&w, "object");
    sl_jw_obj_open(&w);
    sl_jw_key(&w, "key");
    sl_jw_strn(&w, key_enc, o->key_enc_len);
    if (size >= 0) {
        sl_jw_kint(&w, "size", size);
    }
    s = str_or(object, "eTag", "", &n);
    if (n > 0)
        sl_jw_kstrn(&w, "eTag", s, n);
    s = str_or(object, "versionId", "", &n);
    if (n > 0)
        sl_jw_kstrn(&w, "versionId", s, n);
    sl_jw_key(&w, "sequencer");
    sl_jw_strn(&w, seq, seq_len);
    bad |= copy_extras(&w, object, known_object);
    sl_jw_obj_close(&w);
    bad |= copy_extras(&w, s3, known_s3);
    sl_jw_obj_close(&w);
    sl_jw_obj_close(&w);
    if (bad)
        return fail(c, i, "", "too deeply nested (more than 16 levels)");
    o->json_len = t->len - o->json;
    return 0;
}

/* S3's test message when a notification is configured:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html */
static bool is_test_event(json_t *doc)
{
    json_t *ev = json_object_get(doc, "Event");
    return json_is_string(ev) && strcmp(json_string_value(ev), "s3:TestEvent") == 0 &&
           !json_object_get(doc, "Records");
}

enum sl_s3_parse_result sl_s3_parse(const void *body, size_t len, size_t max_records,
                                    uint64_t nonce, struct sl_s3_batch *b, char *why,
                                    size_t why_len)
{
    b->n = 0;
    sl_buf_reset(&b->text);
    if (why_len)
        why[0] = '\0';
    const char *p = body;
    size_t ws = 0;
    while (ws < len && isspace((unsigned char)p[ws]))
        ws++;
    if (ws == len)
        return SL_S3_PARSE_PROBE;
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        snprintf(why, why_len, "the body is not a JSON object: %s (at byte %d)", jerr.text,
                 jerr.position);
        return SL_S3_PARSE_INVALID;
    }
    enum sl_s3_parse_result res = SL_S3_PARSE_RECORDS;
    if (!json_is_object(doc)) {
        snprintf(why, why_len, "the body is not a JSON object");
        res = SL_S3_PARSE_INVALID;
        goto out;
    }
    json_t *recs = json_object_get(doc, "Records");
    if (is_test_event(doc)) {
        res = SL_S3_PARSE_PROBE;
        goto out;
    }
    if (!json_is_array(recs)) {
        snprintf(why, why_len, "the body has no \"Records\" array (nor is it an s3:TestEvent)");
        res = SL_S3_PARSE_INVALID;
        goto out;
    }
    size_t n = json_array_size(recs);
    if (n > max_records) {
        snprintf(why, why_len, "the body holds %zu records; this source takes at most %zu", n,
                 max_records);
        res = SL_S3_PARSE_TOO_MANY;
        goto out;
    }
    if (n > b->cap) {
        b->v = sl_realloc(b->v, n * sizeof(*b->v));
        b->cap = n;
    }
    struct note_offs *offs = n ? sl_calloc(n, sizeof(*offs)) : NULL;
    struct parse_ctx c = {.b = b, .offs = offs, .why = why, .why_len = why_len};
    for (size_t i = 0; i < n; i++) {
        if (parse_record(&c, i, json_array_get(recs, i), nonce) < 0) {
            res = SL_S3_PARSE_INVALID;
            free(offs);
            b->n = 0;
            goto out;
        }
    }
    /* The text is complete: offsets become pointers. */
    const char *t = b->text.data;
    for (size_t i = 0; i < n; i++) {
        b->v[i] = (struct sl_s3_note){
            .json = t + offs[i].json,
            .json_len = offs[i].json_len,
            .bucket = t + offs[i].bucket,
            .bucket_len = offs[i].bucket_len,
            .key = t + offs[i].key,
            .key_len = offs[i].key_len,
            .key_enc = t + offs[i].key_enc,
            .key_enc_len = offs[i].key_enc_len,
            .sequencer = t + offs[i].seq,
            .sequencer_len = offs[i].seq_len,
        };
    }
    b->n = n;
    free(offs);
out:
    json_decref(doc);
    return res;
}
