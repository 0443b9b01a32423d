/* Checks that text is one JSON value (RFC 8259, https://www.rfc-editor.org/rfc/rfc8259) without
 * building a tree: for a request body that is kept as text and only has to be JSON. */
#ifndef SL_CORE_JSON_CHECK_H
#define SL_CORE_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Arrays and objects nest this deep at most (as in jansson's parser). */
#define SL_JSON_CHECK_MAX_DEPTH 2048

struct sl_json_check_err {
    size_t pos;       /* byte offset of the first byte that does not fit */
    const char *what; /* what is wrong there (static text) */
};

/* True when s[0..n) is one JSON value with optional whitespace around it: any value at the top
 * (not only an object or array), strings of well-formed UTF-8 whose \u escapes pair surrogates,
 * numbers of any size (what they mean is the reader's business). Else false with *err set
 * (err may be NULL). Allocates nothing. */
bool sl_json_check(const char *s, size_t n, struct sl_json_check_err *err);

#endif
