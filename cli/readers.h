/* Pull sources read by several mappings: each mapping reads with an instance of its own (a
 * reader), created from the source's section with the mapping's `reader` keys set, so mappings
 * keep their own position (consumer group, Redis group, replication slot) and never hold each
 * other back (docs/ARCHITECTURE.md, "Fan-out"). */
#ifndef SL_CLI_READERS_H
#define SL_CLI_READERS_H

#include "config/config.h"
#include "core/err.h"
#include "core/module.h"
#include "sources/source.h"

/* Whether source `name` of cfg is of a type with a reader per mapping (group_key). */
bool sl_readers_per_mapping(const struct sl_config *cfg, const char *name);
/* May the source `name` feed several mappings (a reader each, or a push source's fan-out)? */
bool sl_readers_several(const struct sl_config *cfg, const char *name);

/* The mappings of cfg that read source `name`. */
size_t sl_readers_count(const struct sl_config *cfg, const char *name);

/* The reader name of the instance mapping mc reads: mc->name when its source's type keeps a
 * position per reader (group_key) and several mappings of cfg read it; else NULL (the source
 * has one instance, named as the source alone). */
const char *sl_readers_name(const struct sl_config *cfg, const struct sl_cfg_mapping *mc);

/* Whether the one mapping of cfg that reads source `name` (none: NULL) sets the same reader
 * keys as the one of other: whether the source's single instance may stay as it is. */
bool sl_readers_same(const struct sl_config *cfg, const struct sl_config *other, const char *name);

/* The instance mapping mc of cfg reads among srcs[0..n), or NULL. */
struct sl_source *sl_readers_find(struct sl_source *const *srcs, size_t n,
                                  const struct sl_config *cfg, const struct sl_cfg_mapping *mc);

/* Creates the instance of source section sec that mapping mc reads (ops->group_key set): sec
 * with mc's reader keys set, env->reader from sl_readers_name. Errors of those keys name mc's
 * key path ("mappings[1].reader.group"). The section is bound without cfg's diags: errors of
 * its own keys are reported by creating it as written (sluice validate). */
int sl_readers_create(const struct sl_env *env, const struct sl_source_ops *ops,
                      const struct sl_cfg_typed *sec, const struct sl_cfg_mapping *mc,
                      struct sl_source **out, struct sl_err *err);

/* The group (slot) mapping mc names for its reader: its reader.group, else its source's own
 * key; NULL when neither is set (the type's default, which only an instance knows). */
const char *sl_readers_configured_group(const struct sl_config *cfg,
                                        const struct sl_cfg_mapping *mc);

/* The checks of mapping mc (index i of cfg's mappings) against its source, once the sources
 * of cfg are built (srcs[0..n)): `reader` only for types with a reader per mapping; one
 * mapping per source of the other types; two mappings of one source never share a group. */
int sl_readers_check(const struct sl_config *cfg, struct sl_source *const *srcs, size_t n, size_t i,
                     struct sl_err *err);

#endif
