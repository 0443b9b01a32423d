/* Private helpers of the config module: key paths and value texts for messages and docs. */
#ifndef SL_CONFIG_PROPS_FMT_H
#define SL_CONFIG_PROPS_FMT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/props.h"

/* "parent.key" (or "key" when parent is empty); control bytes become '?'; truncates to cap. */
void sl_path_key(char *out, size_t cap, const char *parent, const char *key);
/* "parent[i]". */
void sl_path_index(char *out, size_t cap, const char *parent, size_t i);
/* "a mapping", "a list", "a string", "a number", "a boolean", "null". */
const char *sl_json_kind(const json_t *v);
/* A value as shown in messages: strings quoted (when quote) and cut after 60 characters,
 * control characters escaped, "(secret)" when secret, structured values as their kind. */
void sl_value_text(const json_t *v, bool secret, bool quote, char *out, size_t cap);
/* "min..max" or "min or more". */
void sl_prop_fmt_range(const struct sl_prop *p, char *out, size_t cap);
/* The enum values joined by ", ", each wrapped in quote ("" or "`"). */
void sl_prop_fmt_enum(const struct sl_prop *p, const char *quote, char *out, size_t cap);

#endif
