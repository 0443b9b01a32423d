/* The admin API's record of DLQ purges and redrives: each one is a task whose counts move as
 * it works through its chunks, so an operator can watch a long one (GET /v1/dlq/tasks) from
 * another client while it runs. The last SL_DLQ_TASKS_MAX tasks are kept. Loop thread only. */
#ifndef SL_CLI_DLQTASKS_H
#define SL_CLI_DLQTASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jw.h"

#define SL_DLQ_TASKS_MAX 16

struct sl_dlq_task {
    uint64_t seq;     /* 0: a free slot */
    const char *kind; /* "purge" or "redrive" */
    bool dry_run;     /* redrive only */
    bool running;
    int64_t started_ms; /* wall clock */
    int64_t finished_ms;
    size_t matched; /* entries listed so far */
    size_t removed; /* purge: removed; redrive: delivered and removed */
    size_t failed;
    size_t skipped;
    char error[256]; /* "" or why it stopped */
};

struct sl_dlq_tasks {
    struct sl_dlq_task slots[SL_DLQ_TASKS_MAX];
    uint64_t seq;
};

/* A new running task in the slot of the oldest finished one; NULL when SL_DLQ_TASKS_MAX tasks
 * are running. */
struct sl_dlq_task *sl_dlq_task_begin(struct sl_dlq_tasks *t, const char *kind);
/* Ends a task: error NULL or why it stopped. */
void sl_dlq_task_end(struct sl_dlq_task *task, const char *error);
/* "task-<seq>" */
void sl_dlq_task_id(const struct sl_dlq_task *task, char *out, size_t n);
/* {"tasks":[{id, kind, state, startedAt, finishedAt, matched, removed|redriven, failed,
 * skipped, error}...]}, newest first. */
void sl_dlq_tasks_json(const struct sl_dlq_tasks *t, struct sl_jw *w);

#endif
