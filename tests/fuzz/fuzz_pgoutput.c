/* The replication stream comes from the server, but a decoder must never trust lengths: any
 * bytes, as a sequence of copy-data frames, decode or are refused without reading past them,
 * and every change decoded for a table a Relation message described renders as valid JSON,
 * whatever its values (bad UTF-8, JSON columns that are not JSON, deep nesting, bad bytea).
 * Input: frames, each preceded by a 2-byte big-endian length. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sources/postgres/cdc_int.h"
#include "sources/postgres/pgoutput.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_pgcdc_shared SH = {
    .slot = "s", .region_json = "\"\"", .pub_json = "\"p\"", .slot_json = "\"s\""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_pgo_msg *m;
    if (!m)
        m = calloc(1, sizeof(*m));
    struct sl_pgcdc_rel rel;
    bool have_rel = false;
    struct sl_buf out, scratch;
    sl_buf_init(&out);
    sl_buf_init(&scratch);
    size_t at = 0;
    while (at + 2 <= size) {
        size_t len = (size_t)data[at] << 8 | data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        /* An exact copy: a read past the frame is a read past the allocation. */
        uint8_t *frame = malloc(len ? len : 1);
        memcpy(frame, data + at, len);
        at += len;
        struct sl_pgo_frame f;
        const uint8_t *msg = frame;
        size_t mlen = len;
        if (sl_pgo_frame_parse(frame, len, &f) == 0 && f.kind == 'w') {
            msg = f.data;
            mlen = f.len;
        }
        if (sl_pgo_decode(msg, mlen, m) == 0) {
            if (m->kind == 'R') {
                if (have_rel)
                    sl_pgcdc_rel_release(&rel);
                sl_pgcdc_rel_init(&rel, &SH, m, "h:1/d");
                have_rel = true;
                json_t *arn = json_loads(rel.arn_json, JSON_DECODE_ANY, NULL);
                if (!arn)
                    abort();
                json_decref(arn);
            } else if (have_rel && (m->kind == 'I' || m->kind == 'U' || m->kind == 'D')) {
                sl_buf_reset(&out);
                sl_pgcdc_render(&rel, m, 1, 0, &scratch, &out);
                json_error_t e;
                json_t *j = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &e);
                if (!json_is_object(j)) {
                    fprintf(stderr, "not a JSON object (%s at %d): %.*s\n", e.text, e.position,
                            (int)out.len, out.data);
                    abort();
                }
                json_decref(j);
            }
        }
        free(frame);
    }
    if (have_rel)
        sl_pgcdc_rel_release(&rel);
    sl_buf_release(&out);
    sl_buf_release(&scratch);
    return 0;
}
