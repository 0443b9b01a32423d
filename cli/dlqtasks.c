#include "cli/dlqtasks.h"

#include <stdio.h>
#include <string.h>

#include "core/time.h"

struct sl_dlq_task *sl_dlq_task_begin(struct sl_dlq_tasks *t, const char *kind)
{
    struct sl_dlq_task *slot = NULL;
    for (size_t i = 0; i < SL_DLQ_TASKS_MAX; i++) {
        struct sl_dlq_task *c = &t->slots[i];
        if (c->running)
            continue;
        if (!slot || c->seq < slot->seq)
            slot = c;
    }
    if (!slot)
        return NULL;
    memset(slot, 0, sizeof(*slot));
    slot->seq = ++t->seq;
    slot->kind = kind;
    slot->running = true;
    slot->started_ms = sl_now_ms();
    return slot;
}

void sl_dlq_task_end(struct sl_dlq_task *task, const char *error)
{
    task->running = false;
    task->finished_ms = sl_now_ms();
    snprintf(task->error, sizeof(task->error), "%s", error ? error : "");
}

void sl_dlq_task_id(const struct sl_dlq_task *task, char *out, size_t n)
{
    snprintf(out, n, "task-%llu", (unsigned long long)task->seq);
}

void sl_dlq_tasks_json(const struct sl_dlq_tasks *t, struct sl_jw *w)
{
    const struct sl_dlq_task *order[SL_DLQ_TASKS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < SL_DLQ_TASKS_MAX; i++)
        if (t->slots[i].seq)
            order[n++] = &t->slots[i];
    /* Newest first (insertion sort: at most SL_DLQ_TASKS_MAX). */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && order[k]->seq > order[k - 1]->seq; k--) {
            const struct sl_dlq_task *x = order[k];
            order[k] = order[k - 1];
            order[k - 1] = x;
        }
    sl_jw_obj_open(w);
    sl_jw_key(w, "tasks");
    sl_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        const struct sl_dlq_task *k = order[i];
        char id[32];
        sl_dlq_task_id(k, id, sizeof(id));
        sl_jw_obj_open(w);
        sl_jw_kstr(w, "id", id);
        sl_jw_kstr(w, "kind", k->kind);
        if (strcmp(k->kind, "redrive") == 0)
            sl_jw_kbool(w, "dryRun", k->dry_run);
        sl_jw_kstr(w, "state", k->running ? "running" : k->error[0] ? "stopped" : "done");
        sl_jw_key(w, "startedAt");
        sl_jw_time(w, k->started_ms);
        sl_jw_key(w, "finishedAt");
        if (k->running)
            sl_jw_null(w);
        else
            sl_jw_time(w, k->finished_ms);
        sl_jw_kint(w, "matched", (int64_t)k->matched);
        sl_jw_kint(w, strcmp(k->kind, "purge") == 0 ? "purged" : "redriven", (int64_t)k->removed);
        sl_jw_kint(w, "failed", (int64_t)k->failed);
        sl_jw_kint(w, "skipped", (int64_t)k->skipped);
        sl_jw_key(w, "error");
        if (k->error[0])
            sl_jw_str(w, k->error);
        else
            sl_jw_null(w);
        sl_jw_obj_close(w);
    }
    sl_jw_arr_close(w);
    sl_jw_obj_close(w);
}
