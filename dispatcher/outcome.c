/* Classification of one function response into an outcome: partial batch responses as in
 * https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html, status
 * codes and X-Amz-Function-Error as in
 * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html */
#include "dispatcher/target.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"

#define SL_INVALID_PARTIAL "invalid partial batch response"

const char *sl_outcome_kind_name(enum sl_outcome_kind k)
{
    switch (k) {
    case SL_OUTCOME_OK:
        return "ok";
    case SL_OUTCOME_PARTIAL:
        return "partial";
    case SL_OUTCOME_RETRY:
        return "retry";
    case SL_OUTCOME_FAIL:
        return "fail";
    }
    return "unknown";
}

void sl_outcome_release(struct sl_outcome *o)
{
    if (!o)
        return;
    json_decref(o->failures);
    o->failures = NULL;
}

/* ---- Retry-After ---------------------------------------------------------------------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads exactly n digits. */
static int read_digits(const char **pp, int n, int *out)
{
    const char *p = *pp;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *pp = p + n;
    *out = v;
    return 0;
}

static int expect_char(const char **pp, char c)
{
    if (**pp != c)
        return -1;
    (*pp)++;
    return 0;
}

static int find_name(const char **pp, const char *const *names, int count)
{
    for (int i = 0; i < count; i++) {
        if (strncmp(*pp, names[i], 3) == 0) {
            *pp += 3;
            return i;
        }
    }
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static int parse_imf_fixdate(const char *p, int64_t *ms)
{
    static const char *const wdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day, year, hh, mm, ss;
    if (find_name(&p, wdays, 7) < 0 || expect_char(&p, ',') || expect_char(&p, ' ') ||
        read_digits(&p, 2, &day) || expect_char(&p, ' '))
        return -1;
    int mon = find_name(&p, months, 12);
    if (mon < 0 || expect_char(&p, ' ') || read_digits(&p, 4, &year) || expect_char(&p, ' ') ||
        read_digits(&p, 2, &hh) || expect_char(&p, ':') || read_digits(&p, 2, &mm) ||
        expect_char(&p, ':') || read_digits(&p, 2, &ss) || strncmp(p, " GMT", 4) != 0)
        return -1;
    p = skip_ws(p + 4);
    if (*p)
        return -1;
    int maxday = mdays[mon] + (mon == 1 && is_leap(year));
    if (day < 1 || day > maxday || hh > 23 || mm > 59 || ss > 60)
        return -1;
    int64_t secs = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
    *ms = secs * 1000;
    return 0;
}

int64_t sl_retry_after_parse(const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    const char *p = skip_ws(value);
    if (*p >= '0' && *p <= '9') {
        int64_t secs = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (secs > (INT64_MAX / 1000 - 9) / 10)
                return -1; /* absurdly large: treat as garbage */
            secs = secs * 10 + (*p - '0');
        }
        if (*skip_ws(p))
            return -1;
        return secs * 1000;
    }
    int64_t at;
    if (parse_imf_fixdate(p, &at) < 0)
        return -1;
    return at > now_ms ? at - now_ms : 0;
}

/* ---- Partial batch responses ------------------------------------------------------------ */

static bool valid_identifier(const json_t *id)
{
    if (json_is_string(id))
        return json_string_length(id) > 0;
    if (json_is_object(id))
        return json_object_size(id) > 0; /* Kafka: {"partition":"t-0","offset":5} */
    return false;
}

/* Returns 1 when the body is a valid non-empty partial batch response (sets *failures), 0 when
 * it counts as full success, -1 when it is invalid (the whole batch failed). */
static int parse_partial(const char *body, size_t len, json_t **failures)
{
    *failures = NULL;
    if (!body || len == 0)
        return 0;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (!root)
        return 0; /* not JSON: a handler need not return JSON */
    int rc = 0;
    json_t *list = json_is_object(root) ? json_object_get(root, "batchItemFailures") : NULL;
    if (!list || json_is_null(list)) {
        rc = 0;
    } else if (!json_is_array(list)) {
        rc = -1;
    } else if (json_array_size(list) > 0) {
        json_t *ids = json_array();
        size_t i;
        json_t *entry;
        rc = 1;
        json_array_foreach(list, i, entry)
        {
            json_t *id = json_is_object(entry) ? json_object_get(entry, "itemIdentifier") : NULL;
            if (!valid_identifier(id)) {
                rc = -1;
                break;
            }
            json_array_append(ids, id);
        }
        if (rc == 1)
            *failures = ids;
        else
            json_decref(ids);
    }
    json_decref(root);
    return rc;
}

/* ---- Classification --------------------------------------------------------------------- */

static void set_error(struct sl_outcome *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct sl_outcome *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
}

static void set_http_error(struct sl_outcome *o, const char *prefix)
{
    if (o->retry_after_ms >= 0)
        set_error(o, "%sHTTP %d (retry after %lld ms)", prefix, o->status,
                  (long long)o->retry_after_ms);
    else
        set_error(o, "%sHTTP %d", prefix, o->status);
}

static void classify_2xx(struct sl_outcome *o, const char *function_error_header, const char *body,
                         size_t body_len, const struct sl_invoke *inv)
{
    if (function_error_header) {
        o->kind = SL_OUTCOME_RETRY;
        o->function_error = true;
        snprintf(o->function_error_type, sizeof(o->function_error_type), "%s",
                 function_error_header);
        if (function_error_header[0])
            set_error(o, "function error: %s", o->function_error_type);
        else
            set_error(o, "function error");
        return;
    }
    if (!inv || !inv->report_batch_item_failures)
        return; /* OK: batchItemFailures in the body are ignored */
    json_t *failures;
    int rc = parse_partial(body, body_len, &failures);
    if (rc < 0) {
        o->kind = SL_OUTCOME_RETRY;
        o->function_error = true;
        set_error(o, SL_INVALID_PARTIAL);
    } else if (rc > 0) {
        o->kind = SL_OUTCOME_PARTIAL;
        o->failures = failures;
        set_error(o, "partial batch failure: %zu items", json_array_size(failures));
    }
}

static bool is_terminal(int status, const struct sl_invoke *inv)
{
    const struct sl_intlist *l = inv ? inv->terminal_statuses : NULL;
    if (!l || l->n == 0)
        return true;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i] == status)
            return true;
    }
    return false;
}

void sl_outcome_classify(struct sl_outcome *o, int status, const char *function_error_header,
                         const char *retry_after_header, const char *body, size_t body_len,
                         const struct sl_invoke *inv, const char *transport_error)
{
    memset(o, 0, sizeof(*o));
    o->kind = SL_OUTCOME_OK;
    o->status = status;
    o->retry_after_ms = -1;
    o->reached_function = true;
    o->response = body;
    o->response_len = body ? body_len : 0;

    if (status == 0) {
        /* The request may have been processed: a target that knows it never left (connection
         * failure) clears reached_function itself. */
        o->kind = SL_OUTCOME_RETRY;
        set_error(o, "%s",
                  transport_error && *transport_error ? transport_error : "transport error");
        return;
    }
    if (retry_after_header)
        o->retry_after_ms = sl_retry_after_parse(retry_after_header, sl_now_ms());

    if (status >= 200 && status <= 299) {
        classify_2xx(o, function_error_header, body, o->response_len, inv);
    } else if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
        o->kind = SL_OUTCOME_RETRY;
        o->reached_function = !(status == 429 || status == 503);
        set_http_error(o, "");
    } else if (status >= 400 && status <= 499) {
        o->kind = is_terminal(status, inv) ? SL_OUTCOME_FAIL : SL_OUTCOME_RETRY;
        set_http_error(o, "");
    } else {
        o->kind = SL_OUTCOME_RETRY;
        set_http_error(o, "unexpected status: ");
    }
}
