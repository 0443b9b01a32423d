/* Fuzzes response classification: byte 0 picks the status, byte 1 the headers and options,
 * the rest is the response body (partial batch responses on). Also fuzzes Retry-After. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatcher/target.h"

static const int statuses[] = {200, 200, 200, 202, 204, 0,   408, 429, 500,
                               502, 503, 504, 400, 404, 413, 302, 100, 600};

static void check(const struct sl_outcome *o)
{
    if (o->kind == SL_OUTCOME_PARTIAL) {
        if (!json_is_array(o->failures) || json_array_size(o->failures) == 0)
            abort();
        size_t i;
        json_t *id;
        json_array_foreach(o->failures, i, id)
        {
            if (!(json_is_string(id) && json_string_length(id) > 0) &&
                !(json_is_object(id) && json_object_size(id) > 0))
                abort();
        }
    } else if (o->failures) {
        abort();
    }
    if (memchr(o->error, '\0', sizeof(o->error)) == NULL)
        abort();
    if (o->status >= 200 && o->status <= 299 && o->kind == SL_OUTCOME_FAIL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    uint8_t flags = data[1];
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    char text[128];
    size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, body, n);
    text[n] = '\0';

    int64_t only[] = {400};
    struct sl_intlist terminal = {.v = only, .n = 1};
    struct sl_invoke inv = {
        .report_batch_item_failures = (flags & 4) == 0,
        .terminal_statuses = (flags & 2) ? &terminal : NULL,
    };
    struct sl_outcome o;
    sl_outcome_classify(&o, status, (flags & 1) ? "Unhandled" : NULL, (flags & 8) ? text : NULL,
                        body, len, &inv, status == 0 ? "transport" : NULL);
    check(&o);
    if (o.response != body || o.response_len != len)
        abort();
    sl_outcome_release(&o);

    int64_t ra = sl_retry_after_parse(text, 1445412480000);
    if (ra < -1)
        abort();
    return 0;
}
