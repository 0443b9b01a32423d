/* Fuzzes the kafka event encoder and filter view on records whose attrs come from outside (a
 * record rebuilt from a DLQ entry for redrive): input = record id, a newline, attrs, a newline,
 * the value. Nothing may crash; attrs outside the source's own layout must encode to JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fview_check.h"
#include "core/buf.h"
#include "core/mem.h"
#include "sources/kafka/kafka_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl1 = memchr(p, '\n', size);
    if (!nl1)
        return 0;
    const char *nl2 = memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - p));
    if (!nl2)
        return 0;
    char *id = sl_strndup(p, (size_t)(nl1 - p));
    char *attrs = sl_strndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
    if (strlen(id) != (size_t)(nl1 - p) || strlen(attrs) != (size_t)(nl2 - nl1 - 1)) {
        free(id);
        free(attrs);
        return 0; /* records hold NUL-terminated strings */
    }
    struct sl_record *rs[2];
    rs[0] = sl_record_new(id, attrs, "{}", nl2 + 1, size - (size_t)(nl2 + 1 - p));
    rs[1] = sl_record_new("other-1:2", attrs, "{}", "x", 1);
    bool own_layout = strncmp(attrs, "{\"bootstrapServers\":\"", 21) == 0;
    for (int format = 0; format < 2; format++) {
        struct sl_buf out;
        sl_buf_init(&out);
        sl_kafka_encode("s", rs, 2, format, &out);
        json_t *doc = json_loadb(out.data, out.len, 0, NULL);
        if (!doc && !own_layout)
            abort();
        json_decref(doc);
        sl_buf_release(&out);
    }
    struct sl_fview fv;
    if (!sl_kafka_filter_view(rs[0], &fv))
        abort();
    fuzz_check_fview(&fv, false);
    sl_record_free(rs[0]);
    sl_record_free(rs[1]);
    free(id);
    free(attrs);
    return 0;
}
