/* Lambda event filtering (FilterCriteria; docs/FILTERS.md;
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): patterns are
 * ORed, the fields of one pattern ANDed; a record that matches no pattern is filtered out
 * (acknowledged, not delivered). Patterns are matched against a record's filter view, a JSON object
 * its source builds (metadata fields plus one data key: "body", "data" or "value"). */
#ifndef SL_MAPPINGS_FILTER_H
#define SL_MAPPINGS_FILTER_H

#include <jansson.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"
#include "sources/source.h"

#define SL_FILTER_MAX_PATTERNS      10
#define SL_FILTER_MAX_PATTERN_CHARS 4096

struct sl_filter;

/* Compiles `patterns`: a JSON array whose items are pattern objects or strings holding a
 * pattern's JSON text. `path` names it in errors ("config.yaml: mappings[0].filters[1]"); an
 * error says what is wrong and where in the pattern. NULL or [] compiles to NULL (match all). */
int sl_filter_compile(json_t *patterns, const char *path, struct sl_filter **out,
                      struct sl_err *err);
/* True when the record's view matches at least one pattern (or f is NULL); v NULL: the record
 * cannot be viewed. Reads the view in place; scratch holds its metadata text (reused). */
bool sl_filter_match_view(const struct sl_filter *f, const struct sl_fview *v,
                          struct sl_buf *scratch);
/* The same against a JSON object (tests and tools: it writes the tree out as text first). */
bool sl_filter_match(const struct sl_filter *f, json_t *view);
void sl_filter_destroy(struct sl_filter *f);

#endif
