/* bench_pg_queue_baseline CONNINFO TABLE COUNT [seq|pipe]: the bare loop sluice's postgres-queue
 * source is measured against. On one blocking libpq connection it runs the statements the
 * source runs on the table `sluice init` creates: the claim (visible rows in id order, FOR
 * UPDATE SKIP LOCKED, LIMIT COUNT, made invisible for 30 s and counted as received, RETURNING
 * the columns the event needs), then one DELETE ... WHERE id = ANY($1) of the ids it returned,
 * until a claim returns no row. No function is called and no event is made. `seq` (the default)
 * waits for each statement; `pipe` sends the delete of a batch together with the next claim
 * (libpq's pipeline mode: one round trip per batch). Prints `records=N seconds=S rate=R`. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(PGconn *c, const char *what)
{
    fprintf(stderr, "%s: %s", what, PQerrorMessage(c));
    exit(1);
}

/* The ids of a claim's result as a PostgreSQL array text. */
static size_t ids_of(PGresult *r, char **buf, size_t *cap)
{
    int n = PQntuples(r);
    size_t need = (size_t)n * 22 + 3, len = 0;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
    }
    (*buf)[len++] = '{';
    for (int i = 0; i < n; i++) {
        const char *v = PQgetvalue(r, i, 0);
        size_t l = strlen(v);
        if (i)
            (*buf)[len++] = ',';
        memcpy(*buf + len, v, l);
        len += l;
    }
    (*buf)[len++] = '}';
    (*buf)[len] = '\0';
    return (size_t)n;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: bench_pg_queue_baseline CONNINFO TABLE COUNT [seq|pipe]\n");
        return 2;
    }
    const char *table = argv[2], *count = argv[3];
    int pipe = argc == 5 && strcmp(argv[4], "pipe") == 0;
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK)
        die(c, "connect");
    char claim[2048], del[512];
    snprintf(claim, sizeof(claim),
             "WITH sluice_claim AS (SELECT \"id\" FROM \"%s\" WHERE \"visible_after\" <= now() "
             "ORDER BY \"id\" LIMIT $1 FOR UPDATE SKIP LOCKED) UPDATE \"%s\" AS sluice_q SET "
             "\"visible_after\" = now() + interval '30000 milliseconds', \"receive_count\" = "
             "sluice_q.\"receive_count\" + 1, \"first_received_at\" = "
             "COALESCE(sluice_q.\"first_received_at\", now()) FROM sluice_claim WHERE "
             "sluice_q.\"id\" = sluice_claim.\"id\" RETURNING sluice_q.\"id\", "
             "sluice_q.\"receive_count\", (extract(epoch FROM sluice_q.\"created_at\") * "
             "1000)::bigint, (extract(epoch FROM sluice_q.\"first_received_at\") * 1000)::bigint, "
             "(extract(epoch FROM now()) * 1000)::bigint, sluice_q.\"payload\"::text, NULL::text, "
             "NULL::text",
             table, table);
    snprintf(del, sizeof(del), "DELETE FROM \"%s\" WHERE \"id\" = ANY($1::bigint[])", table);
    const char *cv[1] = {count};
    char *ids = NULL;
    size_t cap = 0, total = 0;
    double t0 = now_s();
    if (!pipe) {
        for (;;) {
            PGresult *r = PQexecParams(c, claim, 1, NULL, cv, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                die(c, "claim");
            size_t n = ids_of(r, &ids, &cap);
            PQclear(r);
            if (n == 0)
                break;
            const char *dv[1] = {ids};
            r = PQexecParams(c, del, 1, NULL, dv, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                die(c, "delete");
            PQclear(r);
            total += n;
        }
    } else {
        if (!PQenterPipelineMode(c))
            die(c, "pipeline mode");
        /* The first claim goes alone; every later one rides with the delete of the batch
         * before (one sync: one round trip). */
        if (!PQsendQueryParams(c, claim, 1, NULL, cv, NULL, NULL, 0) || !PQpipelineSync(c))
            die(c, "send");
        for (;;) {
            PGresult *r = NULL, *x;
            int deleted_first = total > 0;
            if (deleted_first) {
                x = PQgetResult(c);
                if (PQresultStatus(x) != PGRES_COMMAND_OK)
                    die(c, "delete");
                PQclear(x);
                while ((x = PQgetResult(c)))
                    PQclear(x);
            }
            r = PQgetResult(c);
            if (PQresultStatus(r) != PGRES_TUPLES_OK)
                die(c, "claim");
            while ((x = PQgetResult(c)))
                PQclear(x);
            x = PQgetResult(c); /* the sync */
            if (PQresultStatus(x) != PGRES_PIPELINE_SYNC)
                die(c, "sync");
            PQclear(x);
            size_t n = ids_of(r, &ids, &cap);
            PQclear(r);
            if (n == 0)
                break;
            total += n;
            const char *dv[1] = {ids};
            if (!PQsendQueryParams(c, del, 1, NULL, dv, NULL, NULL, 0) ||
                !PQsendQueryParams(c, claim, 1, NULL, cv, NULL, NULL, 0) || !PQpipelineSync(c))
                die(c, "send");
        }
    }
    double secs = now_s() - t0;
    printf("records=%zu seconds=%.3f rate=%.0f\n", total, secs, secs > 0 ? total / secs : 0.0);
    free(ids);
    PQfinish(c);
    return 0;
}
