/* Dispatching a batch and acting on its outcome: success, partial failure, retry with backoff,
 * bisect, or dead-lettering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/mapping_int.h"

struct sl_batch *sl_batch_new(struct sl_lane *lane, size_t cap)
{
    struct sl_batch *b = SL_NEW(struct sl_batch);
    b->m = lane->m;
    b->lane = lane;
    b->rs = sl_calloc(cap ? cap : 1, sizeof(*b->rs));
    sl_buf_init(&b->payload);
    return b;
}

/* A finished batch's payload buffer up to this size is kept for the next batch. */
#define BATCH_SPARE_PAYLOAD_MAX (2u << 20)

/* Frees the batch, not its records (they live on the mapping's all-list). */
void sl_batch_free(struct sl_batch *b)
{
    if (!b)
        return;
    if (b->payload.cap && b->payload.cap <= BATCH_SPARE_PAYLOAD_MAX && !b->m->spare_payload.cap)
        b->m->spare_payload = b->payload;
    else
        sl_buf_release(&b->payload);
    free(b->rs);
    free(b);
}

/* Puts b at the head of its lane's work (it runs before anything else of the lane). */
static void lane_push_front(struct sl_lane *lane, struct sl_batch *b)
{
    b->next = lane->work;
    lane->work = b;
}

/* Appends b at the end of the lane's work queue. */
static void lane_push_back(struct sl_lane *lane, struct sl_batch *b)
{
    struct sl_batch **pp = &lane->work;
    while (*pp)
        pp = &(*pp)->next;
    b->next = NULL;
    *pp = b;
}

static struct sl_batch *batch_from(struct sl_batch *src, struct sl_record **rs, size_t n)
{
    struct sl_batch *b = sl_batch_new(src->lane, n);
    for (size_t i = 0; i < n; i++) {
        b->rs[i] = rs[i];
        b->bytes += rs[i]->bytes;
    }
    b->n = n;
    return b;
}

/* Splits b into two halves that run next, first half first (order is kept). The split is a
 * retry of the batch's records (not counted as an attempt), logged at info with its reason. */
static void batch_bisect(struct sl_batch *b, const char *reason)
{
    size_t half = b->n / 2;
    struct sl_batch *first = batch_from(b, b->rs, half);
    struct sl_batch *second = batch_from(b, b->rs + half, b->n - half);
    sl_info(b->m->scope,
            "retrying %zu records at once as halves of %zu + %zu (bisect, not counted as an "
            "attempt): %s",
            b->n, half, b->n - half, reason);
    lane_push_front(b->lane, second);
    lane_push_front(b->lane, first);
}

static bool record_expired(const struct sl_mapping *m, const struct sl_record *r, int64_t now)
{
    return m->cfg->retry.max_record_age_ms > 0 &&
           now - r->time_ms > m->cfg->retry.max_record_age_ms;
}

/* The invocation of b is over and its records are dealt with. The kick serves the lane and,
 * since a concurrency slot came free, the lanes waiting for one. */
static void batch_finish(struct sl_batch *b)
{
    struct sl_lane *lane = b->lane;
    sl_batch_free(b);
    sl_lane_kick(lane);
}

/* Does a failed invocation count toward max_attempts for its failed records? Not when the batch
 * is bisected next (splitting costs no attempt, as in Lambda), nor when the request never
 * reached the function (a throttle: 429/503, or a connection that never carried it). The rule
 * batch_retry_group charges by, decided before the records' histories get the attempt. */
static bool attempt_counts(const struct sl_outcome *o, bool can_split)
{
    bool reached = o->reached_function || o->function_error;
    switch (o->kind) {
    case SL_OUTCOME_FAIL:
        return !can_split;
    case SL_OUTCOME_PARTIAL:
        return true;
    case SL_OUTCOME_RETRY:
        return reached && !can_split;
    default:
        return false;
    }
}

static void attempt_fill(struct sl_attempt *a, const struct sl_batch *b, const struct sl_outcome *o)
{
    a->time_ms = b->started_ms;
    a->duration_ms = o->duration_ms;
    a->status = o->status;
    snprintf(a->outcome, sizeof(a->outcome), "%s", sl_outcome_kind_name(o->kind));
    snprintf(a->error, sizeof(a->error), "%s", o->error);
    snprintf(a->function_error, sizeof(a->function_error), "%s", o->function_error_type);
    if (o->response && o->response_len) {
        size_t n =
            o->response_len < SL_DLQ_RESPONSE_EXCERPT ? o->response_len : SL_DLQ_RESPONSE_EXCERPT;
        a->response = sl_memdup(o->response, n);
        a->response_len = n;
    }
}

/* Marks the records the partial response names. Returns false if one names no record of the
 * batch (then the whole batch counts as failed, as in Lambda). */
static bool batch_mark_failures(struct sl_batch *b, json_t *failures)
{
    size_t i;
    json_t *id;
    json_array_foreach(failures, i, id)
    {
        bool found = false;
        for (size_t k = 0; k < b->n; k++) {
            if (b->rs[k]->ops->matches(b->rs[k], id)) {
                b->rs[k]->failed_now = true;
                found = true;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* Records named failed are retried or dead-lettered; the others of the group (a partial
 * response's unprocessed tail on an ordered lane) are retried without being charged. */
static void batch_retry_group(struct sl_batch *b, struct sl_record **rs, size_t n,
                              const struct sl_outcome *o, int64_t retry_after_ms)
{
    struct sl_mapping *m = b->m;
    const struct sl_cfg_retry *rc = &m->cfg->retry;
    int64_t now = sl_now_ms();
    struct sl_record **keep = sl_calloc(n ? n : 1, sizeof(*keep));
    size_t nkeep = 0;
    uint32_t max_failures = 0, max_attempts_made = 0;
    bool charged = false;

    for (size_t i = 0; i < n; i++) {
        struct sl_record *r = rs[i];
        if (r->failed_now) {
            r->failures++;
            if (o->reached_function || o->function_error || o->kind == SL_OUTCOME_PARTIAL) {
                r->attempts++;
                charged = true;
            }
            if (r->attempts >= (uint32_t)rc->max_attempts) {
                sl_mapping_dead_letter(m, b->lane, r, SL_COND_RETRIES_EXHAUSTED);
                continue;
            }
        }
        if (record_expired(m, r, now)) {
            sl_mapping_dead_letter(m, b->lane, r, SL_COND_AGE_EXCEEDED);
            continue;
        }
        if (r->failures > max_failures)
            max_failures = r->failures;
        if (r->failed_now && r->attempts > max_attempts_made)
            max_attempts_made = r->attempts;
        keep[nkeep++] = r;
    }
    if (nkeep > 0) {
        struct sl_batch *retry = batch_from(b, keep, nkeep);
        int64_t delay = 0;
        bool any_failed = false;
        for (size_t i = 0; i < nkeep; i++)
            any_failed |= keep[i]->failed_now;
        if (any_failed) {
            /* Every failure grows the backoff, counted as an attempt or not. */
            delay = sl_backoff_delay(&m->backoff, max_failures ? max_failures : 1, &m->rng);
            if (retry_after_ms > delay)
                delay = retry_after_ms;
        }
        retry->not_before_ms = sl_mono_ms() + delay;
        /* One line per retry of a batch: which attempt failed, why, and the delay. */
        if (!any_failed)
            sl_info(m->scope, "retrying %zu records in %lld ms (after a failed record before them)",
                    nkeep, (long long)delay);
        else if (charged)
            sl_info(m->scope, "retrying %zu records in %lld ms: attempt %u of %lld failed: %s",
                    nkeep, (long long)delay, max_attempts_made, (long long)rc->max_attempts,
                    o->error);
        else
            sl_info(m->scope,
                    "retrying %zu records in %lld ms: failure %u not counted as an attempt (%u of "
                    "%lld used): %s",
                    nkeep, (long long)delay, max_failures, max_attempts_made,
                    (long long)rc->max_attempts, o->error);
        lane_push_front(b->lane, retry);
    }
    free(keep);
}

/* Lambda's LastProcessingResult for an invocation's outcome ("OK", "PROBLEM: ..."). */
static const char *processing_result(const struct sl_outcome *o)
{
    if (o->kind == SL_OUTCOME_OK)
        return "OK";
    if (o->kind == SL_OUTCOME_PARTIAL)
        return "PROBLEM: Function returned batch item failures";
    if (o->function_error)
        return "PROBLEM: Function call failed";
    if (o->status == 429)
        return "PROBLEM: Function throttled";
    if (o->status == 0)
        return "PROBLEM: connection error";
    if (o->status == 408 || o->status == 504)
        return "PROBLEM: Function timed out";
    return "PROBLEM: Function call failed";
}

static void batch_on_outcome(const struct sl_outcome *o, void *arg)
{
    struct sl_batch *b = arg;
    struct sl_mapping *m = b->m;
    const struct sl_cfg_retry *rc = &m->cfg->retry;
    struct sl_outcome out = *o;

    m->invoking--;
    b->lane->active--;
    if (m->halted) {
        sl_batch_free(b);
        return;
    }
    sl_metric_observe(m->mx.duration, (double)o->duration_ms / 1000.0);
    if (b->lane->revoked && o->kind != SL_OUTCOME_OK) {
        /* The lane's new owner redelivers these records: drop them unacked. */
        for (size_t i = 0; i < b->n; i++)
            sl_mapping_record_done(m, b->rs[i], false);
        batch_finish(b);
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        b->rs[i]->failed_now = false;

    if (out.kind == SL_OUTCOME_PARTIAL && !batch_mark_failures(b, out.failures)) {
        out.kind = SL_OUTCOME_RETRY;
        out.function_error = true;
        snprintf(out.error, sizeof(out.error), "%s",
                 "partial batch response names an item that is not in the batch");
        for (size_t i = 0; i < b->n; i++)
            b->rs[i]->failed_now = false;
    }
    m->last_result = processing_result(&out);
    switch (out.kind) {
    case SL_OUTCOME_OK:
        sl_metric_inc(m->mx.inv_ok);
        break;
    case SL_OUTCOME_PARTIAL:
        sl_metric_inc(m->mx.inv_partial);
        break;
    case SL_OUTCOME_RETRY:
        sl_metric_inc(m->mx.inv_retry);
        break;
    case SL_OUTCOME_FAIL:
        sl_metric_inc(m->mx.inv_fail);
        break;
    }

    if (out.kind == SL_OUTCOME_OK) {
        for (size_t i = 0; i < b->n; i++)
            sl_mapping_record_done(m, b->rs[i], true);
        sl_metric_add(m->mx.delivered, (double)b->n);
        batch_finish(b);
        return;
    }

    if (out.kind != SL_OUTCOME_PARTIAL) {
        for (size_t i = 0; i < b->n; i++)
            b->rs[i]->failed_now = true;
    }
    bool can_split = rc->bisect_on_error && b->n > 1;
    struct sl_attempt *a = sl_attempt_new();
    attempt_fill(a, b, &out);
    a->counted = attempt_counts(&out, can_split);
    size_t nfailed = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct sl_record *r = b->rs[i];
        if (!r->failed_now)
            continue;
        nfailed++;
        sl_record_add_attempt(r, a);
        if (!r->fail->first_failure_ms)
            r->fail->first_failure_ms = b->started_ms;
        r->fail->last_failure_ms = b->started_ms;
    }
    sl_metric_add(a->counted ? m->mx.attempts_counted : m->mx.attempts_uncounted, (double)nfailed);
    sl_attempt_unref(a);
    sl_metric_add(m->mx.failed, (double)nfailed);
    sl_log(out.kind == SL_OUTCOME_PARTIAL ? SL_LOG_INFO : SL_LOG_WARN, m->scope,
           "invocation of %s: %s (%zu of %zu records failed)", m->t->name, out.error, nfailed,
           b->n);

    if (out.kind == SL_OUTCOME_PARTIAL) {
        /* Ordered lanes follow the stream rule: everything before the first failed record is
         * done, everything from it on is retried. Unordered: only the failed ones. */
        size_t first = b->n, ndone = 0;
        for (size_t i = 0; i < b->n; i++) {
            if (b->rs[i]->failed_now && first == b->n)
                first = i;
        }
        struct sl_record **rest = sl_calloc(b->n, sizeof(*rest));
        size_t nrest = 0;
        bool ordered = m->cfg->ordering == SL_CFG_ORDER_LANE;
        for (size_t i = 0; i < b->n; i++) {
            bool retry = ordered ? i >= first : b->rs[i]->failed_now;
            if (retry) {
                rest[nrest++] = b->rs[i];
            } else {
                sl_mapping_record_done(m, b->rs[i], true);
                ndone++;
            }
        }
        sl_metric_add(m->mx.delivered, (double)ndone);
        batch_retry_group(b, rest, nrest, &out, out.retry_after_ms);
        free(rest);
        batch_finish(b);
        return;
    }

    if (out.kind == SL_OUTCOME_FAIL) {
        if (can_split) {
            batch_bisect(b, out.error);
        } else {
            for (size_t i = 0; i < b->n; i++)
                sl_mapping_dead_letter(m, b->lane, b->rs[i], SL_COND_TERMINAL);
        }
        batch_finish(b);
        return;
    }
    /* Retryable. Bisect applies to function errors, and splitting costs no attempt. */
    if (can_split && (out.function_error || out.reached_function)) {
        batch_bisect(b, out.error);
        batch_finish(b);
        return;
    }
    batch_retry_group(b, b->rs, b->n, &out, out.retry_after_ms);
    batch_finish(b);
}

/* The payload is encoded into the buffer of a batch that finished before, when there is one,
 * sized once from the records' estimates: growing a fresh buffer to a batch of 1000 records
 * (~300 KB) copied it about twice and faulted its pages in again for every batch. */
static void payload_prepare(struct sl_batch *b)
{
    struct sl_mapping *m = b->m;
    if (!b->payload.cap && m->spare_payload.cap) {
        b->payload = m->spare_payload;
        sl_buf_init(&m->spare_payload);
    }
    sl_buf_reset(&b->payload);
    size_t want = b->bytes < m->cfg->batch.max_bytes ? b->bytes : m->cfg->batch.max_bytes;
    sl_buf_reserve(&b->payload, want + 64);
}

enum sl_dispatch sl_batch_dispatch(struct sl_batch *b)
{
    struct sl_mapping *m = b->m;
    const struct sl_cfg_mapping *c = m->cfg;
    int64_t now = sl_now_ms();

    /* Records past max_record_age go to the DLQ instead of the function. */
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (record_expired(m, b->rs[i], now))
            sl_mapping_dead_letter(m, b->lane, b->rs[i], SL_COND_AGE_EXCEEDED);
        else
            b->rs[n++] = b->rs[i];
    }
    b->n = n;
    if (b->n == 0) {
        sl_batch_free(b);
        return SL_DISPATCH_DONE;
    }
    payload_prepare(b);
    m->s->ops->encode(m->s->name, b->rs, b->n, c->format, &b->payload);
    if (b->payload.len > c->batch.max_bytes) {
        if (b->n > 1) {
            /* The size estimate was short: split and try the halves. */
            batch_bisect(b, "the encoded batch is over batch.max_bytes");
        } else {
            sl_warn(m->scope, "record %s encodes to %zu bytes, over batch.max_bytes",
                    sl_record_id_text(b->rs[0], &m->scratch), b->payload.len);
            sl_mapping_dead_letter(m, b->lane, b->rs[0], SL_COND_PAYLOAD_TOO_LARGE);
        }
        sl_batch_free(b);
        return SL_DISPATCH_DONE;
    }
    struct sl_invoke inv = {
        .payload = b->payload.data,
        .len = b->payload.len,
        .timeout_ms = 0,
        .report_batch_item_failures = c->retry.report_batch_item_failures,
        .terminal_statuses = &c->retry.terminal_statuses,
    };
    b->started_ms = now;
    b->started_mono_ns = sl_mono_ns();
    m->invoking++;
    b->lane->active++;
    sl_metric_add(m->mx.dispatched, (double)b->n);
    int rc = m->t->ops->invoke(m->t, &inv, batch_on_outcome, b);
    if (rc < 0) {
        m->invoking--;
        b->lane->active--;
        int64_t delay = sl_backoff_delay(&m->backoff, 1, &m->rng);
        sl_error(m->scope, "cannot invoke %s: %s; retrying %zu records in %lld ms", m->t->name,
                 sl_strerror(rc), b->n, (long long)delay);
        b->not_before_ms = sl_mono_ms() + delay;
        /* An ordered lane retries it before anything else of the lane (the second half of a
         * bisect must not overtake the first); an unordered one lets the rest go first. */
        if (c->ordering == SL_CFG_ORDER_LANE)
            lane_push_front(b->lane, b);
        else
            lane_push_back(b->lane, b);
        return SL_DISPATCH_REFUSED;
    }
    /* b may be gone already: only the outcome callback touches it from here on. */
    return SL_DISPATCH_SENT;
}
