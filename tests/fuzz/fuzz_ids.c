/* Fuzzes the parsers of record identifiers that come from outside: Redis stream entry ids
 * ("<ms>-<seq>", from XREADGROUP replies and DLQ entries) and Kafka DLQ entry ids
 * ("<partition>:<offset>", from the admin API and the CLI). An accepted id must print back to
 * the same numbers. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlq/kafka/kafka_int.h"
#include "sources/redis/tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    uint64_t ms, seq, ms2, seq2;
    if (sl_redis_id_parse(s, size, &ms, &seq) == 0) {
        char back[64];
        int n = snprintf(back, sizeof(back), "%" PRIu64 "-%" PRIu64, ms, seq);
        if (sl_redis_id_parse(back, (size_t)n, &ms2, &seq2) != 0 || ms2 != ms || seq2 != seq)
            abort();
    }

    int32_t partition, partition2;
    int64_t offset, offset2;
    if (sl_kdlq_parse_id(s, &partition, &offset) == 0) {
        char back[64];
        if (partition < 0 || offset < 0)
            abort();
        snprintf(back, sizeof(back), "%" PRId32 ":%" PRId64, partition, offset);
        if (sl_kdlq_parse_id(back, &partition2, &offset2) != 0 || partition2 != partition ||
            offset2 != offset)
            abort();
    }
    free(s);
    return 0;
}
