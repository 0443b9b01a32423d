/* The DLQ entry: ownership helpers and its canonical JSON document (both ways). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/mem.h"
#include "core/time.h"
#include "core/utf8.h"
#include "dlq/batchinfo.h"
#include "dlq/dlq.h"

#define ENTRY_TIME_MAX_MS   253402300799999LL /* 9999-12-31T23:59:59.999Z */
#define ENTRY_STATUS_MAX    999
#define ENTRY_CONDITION_MAX 64

/* ---- UTF-8 text ---- */

/* Appends at most cap bytes of s[0..n) to out as well-formed UTF-8: every byte that does not
 * start a valid sequence (and every NUL) becomes U+FFFD; a character that would not fit whole
 * is dropped with everything after it. */
static void utf8_sanitize(struct sl_buf *out, const char *s, size_t n, size_t cap)
{
    static const char repl[] = "\xef\xbf\xbd";
    size_t used = 0, i = 0;
    while (i < n) {
        size_t len = sl_utf8_seq(s + i, n - i);
        const char *src = len ? s + i : repl;
        size_t out_len = len ? len : 3;
        if (used + out_len > cap)
            break;
        sl_buf_append(out, src, out_len);
        used += out_len;
        i += len ? len : 1;
    }
}

/* ---- ownership ---- */

static void attempt_release(struct sl_dlq_attempt *a)
{
    free(a->outcome);
    free(a->error);
    free(a->function_error);
    free(a->response);
    memset(a, 0, sizeof(*a));
}

void sl_dlq_entry_release(struct sl_dlq_entry *e)
{
    if (!e)
        return;
    free(e->mapping);
    free(e->function);
    free(e->source);
    free(e->source_type);
    free(e->coords);
    free(e->attrs);
    free(e->record_id);
    free(e->payload);
    free(e->condition);
    for (size_t i = 0; i < e->nattempts; i++)
        attempt_release(&e->attempts[i]);
    free(e->attempts);
    memset(e, 0, sizeof(*e));
}

bool sl_dlq_entry_has_id(const struct sl_dlq_entry *e, const char *id)
{
    return strcmp(e->id, id) == 0 || (e->record_id && strcmp(e->record_id, id) == 0);
}

static char *dup_or_null(const char *s)
{
    return s ? sl_strdup(s) : NULL;
}

/* A response excerpt: capped and made well-formed, NUL-terminated (response_len excludes it). */
static void excerpt_set(struct sl_dlq_attempt *dst, const char *s, size_t n)
{
    if (!s) {
        dst->response = NULL;
        dst->response_len = 0;
        return;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_reserve(&b, 0);
    utf8_sanitize(&b, s, n, SL_DLQ_RESPONSE_EXCERPT);
    dst->response = sl_buf_steal(&b, &dst->response_len);
}

void sl_dlq_entry_add_attempt(struct sl_dlq_entry *e, const struct sl_dlq_attempt *a)
{
    if (e->nattempts >= SL_DLQ_MAX_ATTEMPTS) {
        /* Keep the latest: drop the oldest. */
        attempt_release(&e->attempts[0]);
        memmove(e->attempts, e->attempts + 1, (e->nattempts - 1) * sizeof(*e->attempts));
        e->nattempts--;
    }
    e->attempts = sl_realloc(e->attempts, (e->nattempts + 1) * sizeof(*e->attempts));
    struct sl_dlq_attempt *d = &e->attempts[e->nattempts++];
    memset(d, 0, sizeof(*d));
    d->time_ms = a->time_ms;
    d->duration_ms = a->duration_ms;
    d->status = a->status;
    d->outcome = dup_or_null(a->outcome);
    d->error = dup_or_null(a->error);
    d->function_error = dup_or_null(a->function_error);
    d->counted = a->counted;
    excerpt_set(d, a->response, a->response_len);
}

/* ---- to JSON ---- */

static void put_strn(struct sl_jw *w, const char *k, const char *s, size_t n)
{
    sl_jw_key(w, k);
    if (!s) {
        sl_jw_null(w);
        return;
    }
    if (sl_utf8_valid(s, n)) {
        sl_jw_strn(w, s, n);
        return;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    utf8_sanitize(&b, s, n, SIZE_MAX);
    sl_jw_strn(w, b.data ? b.data : "", b.len);
    sl_buf_release(&b);
}

static void put_str(struct sl_jw *w, const char *k, const char *s)
{
    put_strn(w, k, s, s ? strlen(s) : 0);
}

/* Times outside year 1970..9999 (0 = unknown) are written as null. */
static void put_time(struct sl_jw *w, const char *k, int64_t ms)
{
    sl_jw_key(w, k);
    if (ms <= 0 || ms > ENTRY_TIME_MAX_MS) {
        sl_jw_null(w);
        return;
    }
    char ts[32];
    sl_time_fmt_iso(ms, ts, sizeof(ts));
    sl_jw_str(w, ts);
}

/* An embedded JSON object, written in jansson's compact form so that the document is canonical.
 * Text that is not a JSON object is kept as {"unparsed": "<text>"}. */
static void put_object(struct sl_jw *w, const char *k, const char *text)
{
    sl_jw_key(w, k);
    if (!text) {
        sl_jw_raw(w, "{}", 2);
        return;
    }
    json_t *j = json_loads(text, 0, NULL);
    char *compact = json_is_object(j) ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (compact) {
        sl_jw_raw(w, compact, strlen(compact));
        free(compact);
        return;
    }
    sl_jw_obj_open(w);
    put_str(w, "unparsed", text);
    sl_jw_obj_close(w);
}

static void put_on_failure(struct sl_jw *w, const struct sl_dlq_entry *e, const char *id,
                           size_t id_len)
{
    const struct sl_dlq_attempt *last = e->nattempts ? &e->attempts[e->nattempts - 1] : NULL;

    sl_jw_key(w, "onFailure");
    sl_jw_obj_open(w);
    sl_jw_key(w, "requestContext");
    sl_jw_obj_open(w);
    put_strn(w, "requestId", id, id_len);
    put_str(w, "functionArn", e->function);
    put_str(w, "condition", e->condition);
    /* Every invocation the record was in, counted toward max_attempts or not. */
    sl_jw_kint(w, "approximateInvokeCount",
               e->counts_known ? (int64_t)e->counted_attempts + e->uncounted_attempts
                               : (int64_t)e->nattempts);
    sl_jw_obj_close(w);
    /* RecordAgeExceeded: no responseContext, as in Lambda's stream on-failure record
     * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
     * MaximumPayloadSizeExceeded, or no attempt at all: null, as in the Kafka one
     * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html). Else the last
     * attempt's response. */
    bool age = e->condition && strcmp(e->condition, SL_COND_AGE_EXCEEDED) == 0;
    bool size = e->condition && strcmp(e->condition, SL_COND_PAYLOAD_TOO_LARGE) == 0;
    if (!age) {
        sl_jw_key(w, "responseContext");
        if (size || !last) {
            sl_jw_null(w);
        } else {
            sl_jw_obj_open(w);
            sl_jw_kint(w, "statusCode", last->status);
            sl_jw_kstr(w, "executedVersion", "$LATEST");
            put_str(w, "functionError", last->function_error);
            sl_jw_obj_close(w);
        }
    }
    sl_jw_kstr(w, "version", "1.0");
    put_time(w, "timestamp", e->created_ms);
    sl_dlq_put_batch_info(w, e);
    sl_jw_obj_close(w);
}

void sl_dlq_entry_to_json(const struct sl_dlq_entry *e, struct sl_buf *out)
{
    struct sl_jw w;
    sl_jw_init(&w, out);
    size_t id_len = strnlen(e->id, sizeof(e->id));

    sl_jw_obj_open(&w);
    put_strn(&w, "id", e->id, id_len);
    put_str(&w, "mapping", e->mapping);
    put_str(&w, "function", e->function);
    put_str(&w, "source", e->source);
    put_str(&w, "sourceType", e->source_type);
    put_str(&w, "recordId", e->record_id);
    put_time(&w, "recordTime", e->record_time_ms);
    put_object(&w, "coordinates", e->coords);
    put_object(&w, "attributes", e->attrs);
    const char *payload = e->payload;
    size_t payload_len = e->payload_len;
    if (!payload) {
        sl_jw_key(&w, "payload");
        sl_jw_null(&w); /* the record had no value at all (a Kafka tombstone) */
    } else if (sl_utf8_valid(payload, payload_len)) {
        sl_jw_kstrn(&w, "payload", payload, payload_len);
    } else {
        sl_jw_key(&w, "payloadBase64");
        sl_jw_b64(&w, payload, payload_len);
    }
    put_str(&w, "condition", e->condition);
    put_time(&w, "createdAt", e->created_ms);
    put_time(&w, "firstFailureAt", e->first_failure_ms);
    put_time(&w, "lastFailureAt", e->last_failure_ms);
    sl_jw_kint(&w, "attemptCount", (int64_t)e->nattempts);
    sl_jw_key(&w, "countedAttempts");
    if (e->counts_known)
        sl_jw_int(&w, e->counted_attempts);
    else
        sl_jw_null(&w);
    sl_jw_key(&w, "uncountedAttempts");
    if (e->counts_known)
        sl_jw_int(&w, e->uncounted_attempts);
    else
        sl_jw_null(&w);
    sl_jw_key(&w, "attempts");
    sl_jw_arr_open(&w);
    for (size_t i = 0; i < e->nattempts; i++) {
        const struct sl_dlq_attempt *a = &e->attempts[i];
        sl_jw_obj_open(&w);
        put_time(&w, "time", a->time_ms);
        sl_jw_kint(&w, "durationMs", a->duration_ms);
        sl_jw_kint(&w, "status", a->status);
        put_str(&w, "outcome", a->outcome);
        put_str(&w, "error", a->error);
        put_str(&w, "functionError", a->function_error);
        sl_jw_key(&w, "counted");
        if (a->counted == SL_DLQ_COUNTED_UNKNOWN)
            sl_jw_null(&w);
        else
            sl_jw_bool(&w, a->counted == SL_DLQ_COUNTED_YES);
        sl_jw_key(&w, "response");
        if (a->response) {
            struct sl_buf b;
            sl_buf_init(&b);
            utf8_sanitize(&b, a->response, a->response_len, SL_DLQ_RESPONSE_EXCERPT);
            sl_jw_strn(&w, b.data ? b.data : "", b.len);
            sl_buf_release(&b);
        } else {
            sl_jw_null(&w);
        }
        sl_jw_obj_close(&w);
    }
    sl_jw_arr_close(&w);
    put_on_failure(&w, e, e->id, id_len);
    sl_jw_obj_close(&w);
}

/* ---- from JSON ---- */

#define PERM(err, ...) sl_err_set((err), SL_ERR_PERMANENT, SL_EPARSE, __VA_ARGS__)

/* Optional string (absent or null gives NULL); required ones must be non-empty strings. */
static int get_str(json_t *obj, const char *key, const char *where, bool required, char **out,
                   struct sl_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return PERM(err, "dlq entry: %s\"%s\" is required", where, key);
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return PERM(err, "dlq entry: %s\"%s\" must be a string", where, key);
    if (required && json_string_length(v) == 0)
        return PERM(err, "dlq entry: %s\"%s\" must not be empty", where, key);
    *out = sl_strndup(json_string_value(v), json_string_length(v));
    return 0;
}

static int get_time(json_t *obj, const char *key, const char *where, bool required, int64_t *out,
                    struct sl_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v)) {
        if (required)
            return PERM(err, "dlq entry: %s\"%s\" is required", where, key);
        return 0;
    }
    const char *s = json_string_value(v);
    int64_t ms;
    /* An absolute RFC 3339 time only (sl_time_parse also takes relative "-1h"). */
    if (!s || s[0] < '0' || s[0] > '9' || json_string_length(v) > 40 ||
        sl_time_parse(s, 0, &ms) < 0 || ms <= 0 || ms > ENTRY_TIME_MAX_MS)
        return PERM(err, "dlq entry: %s\"%s\" must be an ISO-8601 UTC time", where, key);
    *out = ms;
    return 0;
}

static int get_int(json_t *obj, const char *key, const char *where, int64_t min, int64_t max,
                   int64_t *out, struct sl_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return PERM(err, "dlq entry: %s\"%s\" must be an integer from %lld to %lld", where, key,
                    (long long)min, (long long)max);
    *out = json_integer_value(v);
    return 0;
}

/* An embedded object, kept as compact text; absent or null gives "{}". */
static int get_object(json_t *obj, const char *key, char **out, struct sl_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = sl_strdup("{}");
        return 0;
    }
    if (!json_is_object(v))
        return PERM(err, "dlq entry: \"%s\" must be an object", key);
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return PERM(err, "dlq entry: \"%s\" cannot be encoded", key);
    *out = sl_strdup(text);
    free(text);
    return 0;
}

static bool id_valid(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof(((struct sl_dlq_entry *)0)->id))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static int get_payload(json_t *root, struct sl_dlq_entry *e, struct sl_err *err)
{
    json_t *text = json_object_get(root, "payload");
    json_t *b64 = json_object_get(root, "payloadBase64");
    bool null_payload = json_is_null(text) && !json_is_string(b64);
    if (text && json_is_null(text))
        text = NULL;
    if (b64 && json_is_null(b64))
        b64 = NULL;
    if (text && b64)
        return PERM(err, "dlq entry: \"payload\" and \"payloadBase64\" are exclusive");
    if (null_payload) {
        e->payload = NULL; /* "payload": null: a record without a value */
        e->payload_len = 0;
        return 0;
    }
    if (!text && !b64)
        return PERM(err, "dlq entry: \"payload\" or \"payloadBase64\" is required");
    if (text) {
        if (!json_is_string(text))
            return PERM(err, "dlq entry: \"payload\" must be a string");
        e->payload_len = json_string_length(text);
        e->payload = sl_strndup(json_string_value(text), e->payload_len);
        return 0;
    }
    if (!json_is_string(b64))
        return PERM(err, "dlq entry: \"payloadBase64\" must be a string");
    size_t n = json_string_length(b64);
    char *data = sl_malloc(n / 4 * 3 + 1);
    long got = sl_b64_decode(json_string_value(b64), n, data);
    if (got < 0) {
        free(data);
        return PERM(err, "dlq entry: \"payloadBase64\" is not valid base64");
    }
    data[got] = '\0';
    e->payload = data;
    e->payload_len = (size_t)got;
    return 0;
}

static int get_attempt(json_t *v, size_t i, struct sl_dlq_attempt *a, struct sl_err *err)
{
    char where[48];
    snprintf(where, sizeof(where), "attempts[%zu].", i);
    if (!json_is_object(v))
        return PERM(err, "dlq entry: attempts[%zu] must be an object", i);
    int64_t status;
    char *response = NULL;
    int rc = get_time(v, "time", where, false, &a->time_ms, err);
    if (rc == 0)
        rc = get_int(v, "durationMs", where, 0, INT64_MAX, &a->duration_ms, err);
    if (rc == 0)
        rc = get_int(v, "status", where, 0, ENTRY_STATUS_MAX, &status, err);
    if (rc == 0) {
        a->status = (int)status;
        rc = get_str(v, "outcome", where, false, &a->outcome, err);
    }
    if (rc == 0)
        rc = get_str(v, "error", where, false, &a->error, err);
    if (rc == 0)
        rc = get_str(v, "functionError", where, false, &a->function_error, err);
    if (rc == 0)
        rc = get_str(v, "response", where, false, &response, err);
    if (rc == 0) {
        json_t *c = json_object_get(v, "counted");
        if (c && !json_is_null(c) && !json_is_boolean(c))
            rc = PERM(err, "dlq entry: %s\"counted\" must be true, false or null", where);
        else if (c && json_is_boolean(c))
            a->counted = json_is_true(c) ? SL_DLQ_COUNTED_YES : SL_DLQ_COUNTED_NO;
    }
    if (rc == 0 && response)
        excerpt_set(a, response, strlen(response));
    free(response);
    return rc;
}

static int entry_from_root(json_t *root, struct sl_dlq_entry *e, struct sl_err *err)
{
    if (!json_is_object(root))
        return PERM(err, "dlq entry: the document must be a JSON object");
    json_t *id = json_object_get(root, "id");
    if (!json_is_string(id) || !id_valid(json_string_value(id), json_string_length(id)))
        return PERM(err, "dlq entry: \"id\" must be 1 to %zu characters of [A-Za-z0-9._:-]",
                    sizeof(e->id) - 1);
    memcpy(e->id, json_string_value(id), json_string_length(id) + 1);

    int rc;
    if ((rc = get_str(root, "mapping", "", true, &e->mapping, err)) < 0 ||
        (rc = get_str(root, "function", "", false, &e->function, err)) < 0 ||
        (rc = get_str(root, "source", "", false, &e->source, err)) < 0 ||
        (rc = get_str(root, "sourceType", "", false, &e->source_type, err)) < 0 ||
        (rc = get_str(root, "recordId", "", false, &e->record_id, err)) < 0 ||
        (rc = get_time(root, "recordTime", "", false, &e->record_time_ms, err)) < 0 ||
        (rc = get_object(root, "coordinates", &e->coords, err)) < 0 ||
        (rc = get_object(root, "attributes", &e->attrs, err)) < 0 ||
        (rc = get_payload(root, e, err)) < 0 ||
        (rc = get_str(root, "condition", "", true, &e->condition, err)) < 0 ||
        (rc = get_time(root, "createdAt", "", true, &e->created_ms, err)) < 0 ||
        (rc = get_time(root, "firstFailureAt", "", false, &e->first_failure_ms, err)) < 0 ||
        (rc = get_time(root, "lastFailureAt", "", false, &e->last_failure_ms, err)) < 0)
        return rc;
    if (strlen(e->condition) > ENTRY_CONDITION_MAX)
        return PERM(err, "dlq entry: \"condition\" is longer than %d characters",
                    ENTRY_CONDITION_MAX);

    /* Both counts or neither (entries written before sluice kept them apart). */
    json_t *jc = json_object_get(root, "countedAttempts");
    json_t *ju = json_object_get(root, "uncountedAttempts");
    bool has_c = jc && !json_is_null(jc), has_u = ju && !json_is_null(ju);
    if (has_c != has_u)
        return PERM(err, "dlq entry: \"countedAttempts\" and \"uncountedAttempts\" go together");
    if (has_c) {
        int64_t c, u;
        if ((rc = get_int(root, "countedAttempts", "", 0, UINT32_MAX, &c, err)) < 0 ||
            (rc = get_int(root, "uncountedAttempts", "", 0, UINT32_MAX, &u, err)) < 0)
            return rc;
        e->counts_known = true;
        e->counted_attempts = (uint32_t)c;
        e->uncounted_attempts = (uint32_t)u;
    }

    /* Derived fields: checked for shape, otherwise ignored. */
    int64_t count;
    if ((rc = get_int(root, "attemptCount", "", 0, INT64_MAX, &count, err)) < 0)
        return rc;
    json_t *of = json_object_get(root, "onFailure");
    if (of && !json_is_object(of) && !json_is_null(of))
        return PERM(err, "dlq entry: \"onFailure\" must be an object");

    json_t *attempts = json_object_get(root, "attempts");
    if (!attempts || json_is_null(attempts))
        return 0;
    if (!json_is_array(attempts))
        return PERM(err, "dlq entry: \"attempts\" must be an array");
    size_t n = json_array_size(attempts);
    if (n > SL_DLQ_MAX_ATTEMPTS)
        return PERM(err, "dlq entry: more than %d attempts", SL_DLQ_MAX_ATTEMPTS);
    if (n == 0)
        return 0;
    e->attempts = sl_calloc(n, sizeof(*e->attempts));
    for (size_t i = 0; i < n; i++) {
        e->nattempts = i + 1; /* so that release frees what was filled in */
        if ((rc = get_attempt(json_array_get(attempts, i), i, &e->attempts[i], err)) < 0)
            return rc;
    }
    return 0;
}

int sl_dlq_entry_from_json(const char *json, size_t len, struct sl_dlq_entry *e, struct sl_err *err)
{
    memset(e, 0, sizeof(*e));
    if (!json)
        return PERM(err, "dlq entry: no document");
    if (len > SL_DLQ_ENTRY_MAX_JSON)
        return PERM(err, "dlq entry: the document is larger than %u bytes",
                    (unsigned)SL_DLQ_ENTRY_MAX_JSON);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return PERM(err, "dlq entry: invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                    jerr.text);
    int rc = entry_from_root(root, e, err);
    json_decref(root);
    if (rc < 0)
        sl_dlq_entry_release(e);
    return rc;
}
