/* Redis entry fields come from whoever writes to the stream: any bytes become a valid JSON
 * object (the record body), and encoding a record whose attrs are any text never crashes and
 * always gives valid JSON. Input: fields separated by NUL bytes; the last field is also tried
 * as attrs text. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fview_check.h"
#include "sources/record.h"
#include "sources/redis/redis_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *v[64];
    size_t l[64], n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 64; i++) {
        if (i == size || data[i] == '\0') {
            v[n] = (const char *)data + start;
            l[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    struct sl_buf body;
    sl_buf_init(&body);
    sl_redis_fields_json(v, l, n, &body);
    json_t *doc = json_loadb(body.data, body.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(doc))
        abort();
    json_decref(doc);

    char *attrs = strndup(n ? v[n - 1] : "", n ? l[n - 1] : 0);
    struct sl_record *r = sl_record_new("1-1", attrs, NULL, body.data, body.len);
    free(attrs);
    r->time_ms = 1;
    struct sl_buf out;
    sl_buf_init(&out);
    sl_redis_encode("src", &r, 1, SL_CFG_FORMAT_LAMBDA, &out);
    doc = json_loadb(out.data, out.len, JSON_ALLOW_NUL, NULL);
    if (!doc)
        abort();
    json_decref(doc);
    struct sl_fview fv;
    if (!sl_redis_filter_view(r, &fv))
        abort();
    fuzz_check_fview(&fv, true);
    sl_record_free(r);
    sl_buf_release(&out);
    sl_buf_release(&body);
    return 0;
}
