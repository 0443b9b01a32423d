/* Whatever bytes come in, what sluice writes is valid JSON in UTF-8: the escaper alone, a
 * document built with the writer, and the webhook event of records whose method, path, query,
 * headers, id and body come from the input (split at '\n'), once directly and once through
 * the request parser. The attrs are built as the webhook's intake builds them (and marked
 * invalidUtf8Replaced the same way). Input that was valid UTF-8 must come back unchanged. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fview_check.h"
#include "core/jw.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "server/parse.h"
#include "sources/http/webhook_int.h"
#include "sources/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS_MAX 12

/* Parses JSON the way a function would (\u0000 is valid JSON); aborts when it is not. */
static json_t *must_parse(const struct sl_buf *b)
{
    if (!sl_utf8_valid(b->data, b->len))
        abort();
    json_t *doc = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!doc)
        abort();
    return doc;
}

static bool utf8_or_nul(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = s[i] ? sl_utf8_seq(s + i, n - i) : 1;
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static void check_escape(const char *s, size_t n)
{
    struct sl_buf b;
    sl_buf_init(&b);
    size_t replaced = sl_json_escape(&b, s, n);
    json_t *doc = must_parse(&b);
    bool valid = utf8_or_nul(s, n);
    if (valid != (replaced == 0))
        abort();
    if (valid && (json_string_length(doc) != n || memcmp(json_string_value(doc), s, n) != 0))
        abort();
    json_decref(doc);
    sl_buf_release(&b);
}

static bool keep_all(const void *arg, const char *name, size_t len)
{
    return true;
}

/* The intake's attrs (the webhook source's own function), and whether they carry the mark. */
static char *attrs_of(const struct sl_http_req *req, bool *marked)
{
    char *attrs = sl_webhook_attrs(req, keep_all, NULL);
    *marked = strstr(attrs, "\"invalidUtf8Replaced\":true") != NULL;
    return attrs;
}

/* Encodes records carrying attrs, id and body in both formats; every one must parse, and
 * carry the mark exactly when the attrs needed replacements. */
static void check_encode(const char *attrs, bool marked, const char *id, const void *body,
                         size_t body_len)
{
    struct sl_record *rs[2];
    rs[0] = sl_record_new(id, attrs, NULL, body, body_len);
    rs[1] = sl_record_new("second", "{\"method\":\"POST\"}", NULL, "{}", 2);
    rs[0]->time_ms = 1700000000000;
    rs[1]->time_ms = 1;
    for (int format = SL_CFG_FORMAT_LAMBDA; format <= SL_CFG_FORMAT_RAW; format++) {
        struct sl_buf out;
        sl_buf_init(&out);
        sl_webhook_encode("hook\xff", rs, 2, format, &out);
        json_t *doc = must_parse(&out);
        json_t *recs = format == SL_CFG_FORMAT_LAMBDA ? json_object_get(doc, "Records") : doc;
        if (json_array_size(recs) != 2)
            abort();
        json_t *mark = json_object_get(json_array_get(recs, 0), "invalidUtf8Replaced");
        if (marked != json_is_true(mark))
            abort();
        json_decref(doc);
        sl_buf_release(&out);
    }
    struct sl_fview fv;
    if (!sl_webhook_filter_view(rs[0], &fv))
        abort();
    fuzz_check_fview(&fv, true);
    sl_record_free(rs[0]);
    sl_record_free(rs[1]);
}

/* Fields of the input as a request: method, path, query, then header name/value pairs. */
static void check_fields(const char *const *v, const size_t *l, size_t n, const char *rest,
                         size_t rest_len)
{
    struct sl_http_header hs[FIELDS_MAX / 2];
    size_t nh = 0;
    for (size_t i = 3; i + 1 < n && nh < FIELDS_MAX / 2; i += 2) {
        hs[nh].name = v[i];
        hs[nh].name_len = l[i];
        hs[nh].value = v[i + 1];
        hs[nh].value_len = l[i + 1];
        nh++;
    }
    char *method = sl_strndup(n > 0 ? v[0] : "", n > 0 ? l[0] : 0);
    struct sl_http_req req = {
        .method = method,
        .path = n > 1 ? v[1] : "",
        .path_len = n > 1 ? l[1] : 0,
        .query = n > 2 ? v[2] : "",
        .query_len = n > 2 ? l[2] : 0,
        .headers = hs,
        .nheaders = nh,
    };
    bool marked;
    char *attrs = attrs_of(&req, &marked);
    /* The mark is there exactly when some text needed a replacement (a header name as written:
     * cut at 127 bytes, and at a NUL as a C string). */
    bool bad = !utf8_or_nul(method, strlen(method)) || !utf8_or_nul(req.path, req.path_len) ||
               !utf8_or_nul(req.query, req.query_len);
    for (size_t i = 0; i < nh; i++) {
        size_t cut = hs[i].name_len < 127 ? hs[i].name_len : 127;
        const char *nul = memchr(hs[i].name, '\0', cut);
        cut = nul ? (size_t)(nul - hs[i].name) : cut;
        bad = bad || !utf8_or_nul(hs[i].name, cut) || !utf8_or_nul(hs[i].value, hs[i].value_len);
    }
    if (bad != marked)
        abort();
    check_encode(attrs, marked, method, rest, rest_len);
    free(attrs);
    free(method);
}

/* The input as raw HTTP: whatever the parser accepts gives attrs and an event that parse. */
static void check_request(const char *data, size_t size)
{
    struct sl_http_limits limits = {.max_header_bytes = 4096, .max_body_bytes = 4096};
    struct sl_http_parse ps;
    struct sl_http_msg msg;
    sl_http_msg_init(&msg);
    sl_http_parse_init(&ps, &limits);
    ps.stop_at_headers = true;
    sl_http_parse_begin(&ps, &msg);
    size_t off = 0, used = 0;
    int st;
    do {
        st = sl_http_parse_feed(&ps, data + off, size - off, &used);
        off += used;
    } while (st == SL_HTTP_PARSE_HEADERS);
    if (st == SL_HTTP_PARSE_DONE) {
        bool marked;
        char *attrs = attrs_of(&msg.req, &marked);
        check_encode(attrs, marked, "id", msg.req.body, msg.req.body_len);
        free(attrs);
    }
    sl_http_msg_release(&msg);
}

/* A document of every value kind with keys and strings from the input. */
static void check_document(const char *const *v, const size_t *l, size_t n)
{
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_jw_obj_open(&w);
    for (size_t i = 0; i < n; i++) {
        char *key = sl_strndup(v[i], l[i]);
        sl_jw_key(&w, key);
        free(key);
        sl_jw_arr_open(&w);
        sl_jw_strn(&w, v[i], l[i]);
        sl_jw_int(&w, -(int64_t)l[i]);
        sl_jw_bool(&w, i % 2 == 0);
        sl_jw_null(&w);
        sl_jw_b64(&w, v[i], l[i]);
        sl_jw_arr_close(&w);
    }
    sl_jw_obj_close(&w);
    json_decref(must_parse(&b));
    sl_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const char *s = (const char *)data;
    check_escape(s, size);

    const char *v[FIELDS_MAX];
    size_t l[FIELDS_MAX], n = 0, start = 0, i = 0;
    for (; i < size && n < FIELDS_MAX; i++) {
        if (s[i] == '\n') {
            v[n] = s + start;
            l[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    const char *rest = s + start;
    size_t rest_len = size - start;
    check_document(v, l, n);
    check_fields(v, l, n, rest, rest_len);
    check_request(s, size);
    return 0;
}
