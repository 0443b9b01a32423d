/* DLQ entry documents come back from disk and from people: parsing them never crashes, and
 * whatever parses re-encodes and parses again. */
#include <stdint.h>
#include <stdlib.h>

#include "dlq/dlq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_dlq_entry e;
    if (sl_dlq_entry_from_json((const char *)data, size, &e, NULL) == 0) {
        struct sl_buf b;
        struct sl_dlq_entry again;
        sl_buf_init(&b);
        sl_dlq_entry_to_json(&e, &b);
        if (sl_dlq_entry_from_json(b.data, b.len, &again, NULL) != 0)
            abort();
        sl_dlq_entry_release(&again);
        sl_buf_release(&b);
        sl_dlq_entry_release(&e);
    }
    return 0;
}
