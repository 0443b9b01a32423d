/* Fuzzes core/json_check against jansson's parser: what jansson reads as one JSON value the
 * checker accepts, and what the checker accepts jansson reads too, except numbers too large for
 * jansson's types (RFC 8259 sets no limit) and \u0000 in an object's key (jansson's objects
 * hold C strings). A refusal points inside the input. Inputs holding a
 * NUL byte are not compared: jansson's reader skips a raw NUL between tokens, the checker (and
 * RFC 8259) does not. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_json_check_err err = {0};
    bool ok = sl_json_check((const char *)data, size, &err);
    if (!ok && (err.pos > size || !err.what))
        abort();
    if (memchr(data, 0, size))
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (doc && !ok)
        abort();
    if (!doc && ok && !strstr(jerr.text, "too big") && !strstr(jerr.text, "overflow") &&
        !strstr(jerr.text, "NUL byte in object key"))
        abort();
    json_decref(doc);
    return 0;
}
