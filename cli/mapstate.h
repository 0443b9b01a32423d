/* Lambda's Enabled flag of each mapping, kept in the store (table mapping_state) so that an
 * operator's `sluice mappings disable NAME` survives restarts. A row holds the state an
 * operator set and the config's `enabled` at that time: once the config's value changes, the
 * config wins again and the row is dropped. */
#ifndef SL_CLI_MAPSTATE_H
#define SL_CLI_MAPSTATE_H

#include "config/config.h"
#include "core/err.h"
#include "core/store.h"
#include "mappings/mapping.h"

/* The table, as the store's schema creates it. */
extern const char sl_mapstate_schema[];

/* Before the mapping starts (loop thread): applies the state kept for it, if the config's
 * `enabled` is still what it was when it was set; otherwise forgets it. */
void sl_mapstate_apply(struct sl_store *st, const struct sl_cfg_mapping *cfg, struct sl_mapping *m);

typedef void (*sl_mapstate_saved_cb)(int status, void *arg);
/* Keeps m's current state (after sl_mapping_set_enabled); cb fires once it is committed
 * (status 0) or failed (negative; the state then holds only until the process exits). Returns
 * a negative code (cb never fires) when the store takes no more writes. */
int sl_mapstate_save(struct sl_store *st, const struct sl_cfg_mapping *cfg,
                     const struct sl_mapping *m, sl_mapstate_saved_cb cb, void *arg);

#endif
