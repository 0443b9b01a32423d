/* A callback run once, on the loop, before it next sleeps: work gathered during one loop
 * iteration (acks of many handled records) goes out together.
 *
 * libev runs a prepare watcher started from within another prepare watcher (a record handled
 * in the mapping's before-sleep pass, say a DLQ write confirmed inside put()) only in the next
 * iteration, after sleeping; an idle watcher started alongside keeps the loop from sleeping
 * until then. Whichever fires first runs the callback and stops both. */
#ifndef SL_CORE_PRESLEEP_H
#define SL_CORE_PRESLEEP_H

#include <ev.h>

struct sl_presleep {
    struct ev_loop *loop;
    ev_prepare prepare;
    ev_idle idle;
    void (*cb)(void *arg);
    void *arg;
};

void sl_presleep_init(struct sl_presleep *p, struct ev_loop *loop, void (*cb)(void *arg),
                      void *arg);
/* Asks for one run of the callback before the loop sleeps (idempotent until it ran). */
void sl_presleep_arm(struct sl_presleep *p);
/* Cancels a run asked for (also what a run does first). */
void sl_presleep_disarm(struct sl_presleep *p);

#endif
