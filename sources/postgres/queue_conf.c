/* The postgres-queue source's keys (they also make its section of docs/CONFIGURATION.md), the
 * checks a property table cannot express, the SQL it runs (made once from the keys), the check
 * of a table's columns against the mapping, and what `sluice init` creates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/sync.h"
#include "core/mem.h"
#include "sources/postgres/queue_int.h"

#define PGQ_DEFAULT_CLAIM 10 /* SQS's default BatchSize, when no mapping says otherwise */
#define PGQ_MAX_CLAIM     10000

#define COFF(f) offsetof(struct sl_pgq_columns, f)

static const struct sl_prop column_props[] = {
    {.name = "id",
     .type = SL_PROP_STRING,
     .offset = COFF(id),
     .def = "id",
     .desc = "Integer row id (bigint, integer or smallint), unique: `messageId`, and the order "
             "rows are claimed in."},
    {.name = "payload",
     .type = SL_PROP_STRING,
     .offset = COFF(payload),
     .def = "payload",
     .desc = "The message: `body` (any type, read as text: text, json, jsonb...)."},
    {.name = "visible_after",
     .type = SL_PROP_STRING,
     .offset = COFF(visible_after),
     .def = "visible_after",
     .desc = "timestamptz: a row is claimed once this time has passed; a claim sets it to now + "
             "visibility_timeout. A producer delays a message by setting it in the future."},
    {.name = "receive_count",
     .type = SL_PROP_STRING,
     .offset = COFF(receive_count),
     .def = "receive_count",
     .desc = "Integer, 0 when inserted: each claim adds one (`ApproximateReceiveCount`)."},
    {.name = "created_at",
     .type = SL_PROP_STRING,
     .offset = COFF(created_at),
     .def = "created_at",
     .desc = "timestamptz: `SentTimestamp`. \"\": none (the first claim's time is used)."},
    {.name = "first_received_at",
     .type = SL_PROP_STRING,
     .offset = COFF(first_received_at),
     .def = "first_received_at",
     .desc = "timestamptz, NULL when inserted: set by the first claim "
             "(`ApproximateFirstReceiveTimestamp`). \"\": none (each claim's own time is used)."},
    {.name = "attributes",
     .type = SL_PROP_STRING,
     .offset = COFF(attributes),
     .desc = "Optional JSON object (json, jsonb or text) of message attributes: "
             "`messageAttributes` (docs/POSTGRES.md)."},
    {.name = "group",
     .type = SL_PROP_STRING,
     .offset = COFF(group),
     .desc = "Optional message group (any type, read as text): `MessageGroupId`. Rows of one "
             "group share a lane, so `ordering: lane` delivers them in id order."},
};

static const struct sl_prop_table columns_table = {
    .name = "columns",
    .desc = "The queue table's column names (as PostgreSQL stores them: case-sensitive).",
    .props = column_props,
    .nprops = SL_ARRAY_LEN(column_props),
    .struct_size = sizeof(struct sl_pgq_columns),
};

#define OFF(f) offsetof(struct sl_pgq_cfg, f)

static const struct sl_prop pgq_props[] = {
    /* conninfo, password, connect_timeout, command_timeout: shared with every PostgreSQL module. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_pg_conn_table},
    {.name = "table",
     .type = SL_PROP_STRING,
     .offset = OFF(table),
     .flags = SL_PROP_REQUIRED,
     .desc = "The queue table, `name` or `schema.name` (case-sensitive, as PostgreSQL stores "
             "it). `sluice init` creates it (docs/POSTGRES.md)."},
    {.name = "columns",
     .type = SL_PROP_OBJECT,
     .offset = OFF(columns),
     .sub = &columns_table,
     .desc = "Column names, when the table is not the one `sluice init` creates."},
    {.name = "archive_table",
     .type = SL_PROP_STRING,
     .offset = OFF(archive_table),
     .desc = "Rows handled (delivered, filtered out or dead-lettered) move to this table in the "
             "delete's statement, with the columns both tables have; unset: they are deleted. "
             "`sluice init` creates it (the queue's columns and `archived_at`)."},
    {.name = "visibility_timeout",
     .type = SL_PROP_DURATION,
     .offset = OFF(visibility_timeout_ms),
     .def = "30s",
     .min = 1000,
     .max = 12 * 3600 * 1000,
     .desc = "How long a claimed row stays invisible to other claims; sluice renews it while it "
             "holds the row, so it is the time until a row held by a process that died (or "
             "lost its connection) is claimed again. Not less than the function's timeout."},
    {.name = "max_receives",
     .type = SL_PROP_INT,
     .offset = OFF(max_receives),
     .def = "10",
     .min = 1,
     .max = 1000000,
     .desc = "A row claimed more often than this (its receive_count, after crashes) goes to the "
             "DLQ as MaxDeliveriesExceeded instead of to the function, then is deleted: SQS's "
             "maxReceiveCount."},
    {.name = "claim_size",
     .type = SL_PROP_INT,
     .offset = OFF(claim_size),
     .def = "0",
     .max = PGQ_MAX_CLAIM,
     .desc = "Rows claimed per statement (LIMIT); 0: the batch size of the mapping that reads "
             "this source."},
    {.name = "max_inflight",
     .type = SL_PROP_INT,
     .offset = OFF(max_inflight),
     .def = "0",
     .max = 1000000,
     .desc = "Rows claimed and not yet handled above which no more are claimed, so that "
             "several sluice processes share the table (the mapping's caps also apply); 0: 4 x "
             "claim_size."},
    {.name = "poll_interval",
     .type = SL_PROP_DURATION,
     .offset = OFF(poll_interval_ms),
     .def = "1s",
     .min = 10,
     .max = 3600000,
     .desc = "How often to claim without a wake-up: the fallback for a missed NOTIFY, and how "
             "rows whose visibility timeout ran out (or became visible) are found."},
    {.name = "notify",
     .type = SL_PROP_BOOL,
     .offset = OFF(notify),
     .def = "true",
     .desc = "LISTEN on `channel` and claim at once when a NOTIFY comes (the trigger `sluice "
             "init` installs sends one per INSERT statement); false: polling only."},
    {.name = "channel",
     .type = SL_PROP_STRING,
     .offset = OFF(channel),
     .desc = "The NOTIFY channel; unset: `sluice_<table name>`."},
    {.name = "metrics_interval",
     .type = SL_PROP_DURATION,
     .offset = OFF(metrics_interval_ms),
     .def = "5s",
     .max = 3600000,
     .desc = "How often the visible rows are counted (up to 1,000,000) and the oldest "
             "visible row's age read, for the metrics; 0: never."},
};

const struct sl_prop_table sl_pgq_source_table = {
    .name = "sources[] (type: postgres-queue)",
    .desc = "Rows of a PostgreSQL table claimed in batches with FOR UPDATE SKIP LOCKED, so any "
            "number of sluice processes share the table; records are SQS-shaped, and a row is "
            "deleted (or archived) once handled (docs/POSTGRES.md).",
    .props = pgq_props,
    .nprops = SL_ARRAY_LEN(pgq_props),
    .struct_size = sizeof(struct sl_pgq_cfg),
};

void sl_pgq_cfg_release(struct sl_pgq_cfg *c)
{
    sl_props_release(&sl_pgq_source_table, c);
}

bool sl_pgq_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SL_PGQ_NAME_MAX || (s[0] >= '0' && s[0] <= '9') || s[0] == '$')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '$'))
            return false;
    }
    return true;
}

bool sl_pgq_table_ok(const char *s)
{
    if (!s)
        return false;
    const char *dot = strchr(s, '.');
    if (!dot)
        return sl_pgq_name_ok(s, strlen(s));
    return sl_pgq_name_ok(s, (size_t)(dot - s)) && sl_pgq_name_ok(dot + 1, strlen(dot + 1));
}

void sl_pgq_quote_name(struct sl_buf *out, const char *name)
{
    /* Names are checked (no quote inside); the quotes keep their case. */
    sl_buf_putc(out, '"');
    sl_buf_puts(out, name);
    sl_buf_putc(out, '"');
}

void sl_pgq_quote_table(struct sl_buf *out, const char *table)
{
    const char *dot = strchr(table, '.');
    if (dot) {
        sl_buf_putc(out, '"');
        sl_buf_append(out, table, (size_t)(dot - table));
        SL_BUF_LIT(out, "\".");
        table = dot + 1;
    }
    sl_pgq_quote_name(out, table);
}

/* The table's own name (after the schema). */
static const char *table_name(const char *table)
{
    const char *dot = strchr(table, '.');
    return dot ? dot + 1 : table;
}

struct col_key {
    const char *key;
    size_t off;
    bool optional;
};

static const struct col_key col_keys[] = {
    {"id", COFF(id), false},
    {"payload", COFF(payload), false},
    {"visible_after", COFF(visible_after), false},
    {"receive_count", COFF(receive_count), false},
    {"created_at", COFF(created_at), true},
    {"first_received_at", COFF(first_received_at), true},
    {"attributes", COFF(attributes), true},
    {"group", COFF(group), true},
};

static char **col_at(struct sl_pgq_columns *c, size_t i)
{
    return (char **)((char *)c + col_keys[i].off);
}

static const char *col_get(const struct sl_pgq_columns *c, size_t i)
{
    return *(char *const *)((const char *)c + col_keys[i].off);
}

static int check_columns_cfg(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                             struct sl_pgq_columns *cols, struct sl_err *err)
{
    char key[64];
    for (size_t i = 0; i < SL_ARRAY_LEN(col_keys); i++) {
        char **v = col_at(cols, i);
        snprintf(key, sizeof(key), "columns.%s", col_keys[i].key);
        if (*v && !**v) {
            if (!col_keys[i].optional)
                return sl_config_section_error(
                    err, cfg, sec, key,
                    "\"\" is empty (allowed: a column name; this column is "
                    "required)");
            free(*v);
            *v = NULL;
            continue;
        }
        if (*v && !sl_pgq_name_ok(*v, strlen(*v)))
            return sl_config_section_error(
                err, cfg, sec, key,
                "\"%s\" is not a column name (allowed: 1 to 63 characters of A-Z "
                "a-z 0-9 _ $, not starting with a digit or $%s)",
                *v, col_keys[i].optional ? "; \"\" for none" : "");
        for (size_t k = 0; *v && k < i; k++) {
            const char *o = col_get(cols, k);
            if (o && strcmp(o, *v) == 0)
                return sl_config_section_error(
                    err, cfg, sec, key, "\"%s\" is columns.%s too (allowed: a column of its own)",
                    *v, col_keys[k].key);
        }
    }
    return 0;
}

/* The mapping that reads this source, or NULL. */
static const struct sl_cfg_mapping *reader(const struct sl_config *cfg,
                                           const struct sl_cfg_typed *sec)
{
    for (size_t i = 0; cfg && sec->name && i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *mc = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (mc->source && strcmp(mc->source, sec->name) == 0)
            return mc;
    }
    return NULL;
}

int sl_pgq_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                    struct sl_pgq_cfg *c, struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = sl_config_bind_typed(cfg, sec, &sl_pgq_source_table, c, err);
    if (rc < 0)
        return rc;
    const char *path = sec->path ? sec->path : "sources[]";
    if (!sl_pgq_table_ok(c->table)) {
        rc = sl_config_section_error(
            err, cfg, sec, "table",
            "\"%s\" is not a table name (allowed: name or schema.name, each 1 to 63 "
            "characters of A-Z a-z 0-9 _ $, not starting with a digit or $)",
            c->table ? c->table : "");
        goto fail;
    }
    if (c->archive_table) {
        if (!sl_pgq_table_ok(c->archive_table)) {
            rc = sl_config_section_error(
                err, cfg, sec, "archive_table",
                "\"%s\" is not a table name (allowed: name or schema.name, each 1 to "
                "63 characters of A-Z a-z 0-9 _ $, not starting with a digit or $)",
                c->archive_table);
            goto fail;
        }
        if (strcmp(c->archive_table, c->table) == 0) {
            rc = sl_config_section_error(
                err, cfg, sec, "archive_table",
                "\"%s\" is the queue table itself (allowed: another table)", c->archive_table);
            goto fail;
        }
    }
    if ((rc = check_columns_cfg(cfg, sec, &c->columns, err)) < 0)
        goto fail;
    if ((rc = sl_pg_conn_cfg_check(&c->conn, cfg ? cfg->file : NULL, path, err)) < 0)
        goto fail;
    if (c->metrics_interval_ms != 0 && c->metrics_interval_ms < 100) {
        char v[32];
        snprintf(v, sizeof(v), "%lldms", (long long)c->metrics_interval_ms);
        rc = sl_config_section_error(err, cfg, sec, "metrics_interval",
                                     "%s is out of range (allowed: 0 (off), or 100ms..1h)", v);
        goto fail;
    }
    if (c->channel && !sl_pgq_name_ok(c->channel, strlen(c->channel))) {
        rc = sl_config_section_error(
            err, cfg, sec, "channel",
            "\"%s\" is not a channel name (allowed: 1 to 63 characters of A-Z a-z 0-9 "
            "_ $, not starting with a digit or $)",
            c->channel);
        goto fail;
    }
    if (!c->channel) {
        char ch[128];
        snprintf(ch, sizeof(ch), "sluice_%s", table_name(c->table));
        if (strlen(ch) > SL_PGQ_NAME_MAX) {
            rc = sl_config_section_error(
                err, cfg, sec, "channel",
                "missing, and the default \"%s\" is longer than 63 characters "
                "(allowed: set a channel name of 1 to 63 characters)",
                ch);
            goto fail;
        }
        c->channel = sl_strdup(ch);
    }
    /* Derived: the claim size from the mapping's batch, its lanes from its concurrency. */
    const struct sl_cfg_mapping *mc = reader(cfg, sec);
    if (c->claim_size == 0) {
        c->claim_size = PGQ_DEFAULT_CLAIM;
        if (mc && mc->batch.size > 0)
            c->claim_size = mc->batch.size < PGQ_MAX_CLAIM ? mc->batch.size : PGQ_MAX_CLAIM;
    }
    if (c->max_inflight == 0)
        c->max_inflight = c->claim_size * 4;
    c->lanes = 1;
    if (c->columns.group && mc && mc->max_concurrency > 1)
        c->lanes = mc->max_concurrency;
    return 0;
fail:
    sl_pgq_cfg_release(c);
    return rc;
}

/* ---- the statements ---- */

/* sluice_q."col" */
static void qcol(struct sl_buf *b, const char *col)
{
    SL_BUF_LIT(b, "sluice_q.");
    sl_pgq_quote_name(b, col);
}

static void epoch_ms(struct sl_buf *b, const char *col)
{
    if (!col) {
        SL_BUF_LIT(b, "NULL::bigint");
        return;
    }
    SL_BUF_LIT(b, "(extract(epoch FROM ");
    qcol(b, col);
    SL_BUF_LIT(b, ") * 1000)::bigint");
}

static char *steal(struct sl_buf *b)
{
    return sl_buf_steal(b, NULL);
}

void sl_pgq_sql_build(const struct sl_pgq_cfg *c, struct sl_pgq_sql *q)
{
    const struct sl_pgq_columns *k = &c->columns;
    struct sl_buf b;
    memset(q, 0, sizeof(*q));
    sl_buf_init(&b);
    sl_pgq_quote_table(&b, c->table);
    q->table_q = steal(&b);
    if (c->archive_table) {
        sl_pgq_quote_table(&b, c->archive_table);
        q->archive_q = steal(&b);
    }
    char vt[64];
    snprintf(vt, sizeof(vt), "now() + interval '%lld milliseconds'",
             (long long)c->visibility_timeout_ms);

    /* One statement: the visible rows in id order that no other transaction holds, made
     * invisible for the visibility timeout and counted as received. */
    SL_BUF_LIT(&b, "WITH sluice_claim AS (SELECT ");
    sl_pgq_quote_name(&b, k->id);
    SL_BUF_LIT(&b, " FROM ");
    sl_buf_puts(&b, q->table_q);
    SL_BUF_LIT(&b, " WHERE ");
    sl_pgq_quote_name(&b, k->visible_after);
    SL_BUF_LIT(&b, " <= now() ORDER BY ");
    sl_pgq_quote_name(&b, k->id);
    SL_BUF_LIT(&b, " LIMIT $1 FOR UPDATE SKIP LOCKED) UPDATE ");
    sl_buf_puts(&b, q->table_q);
    SL_BUF_LIT(&b, " AS sluice_q SET ");
    sl_pgq_quote_name(&b, k->visible_after);
    sl_buf_printf(&b, " = %s, ", vt);
    sl_pgq_quote_name(&b, k->receive_count);
    SL_BUF_LIT(&b, " = ");
    qcol(&b, k->receive_count);
    SL_BUF_LIT(&b, " + 1");
    if (k->first_received_at) {
        SL_BUF_LIT(&b, ", ");
        sl_pgq_quote_name(&b, k->first_received_at);
        SL_BUF_LIT(&b, " = COALESCE(");
        qcol(&b, k->first_received_at);
        SL_BUF_LIT(&b, ", now())");
    }
    SL_BUF_LIT(&b, " FROM sluice_claim WHERE ");
    qcol(&b, k->id);
    SL_BUF_LIT(&b, " = sluice_claim.");
    sl_pgq_quote_name(&b, k->id);
    SL_BUF_LIT(&b, " RETURNING ");
    qcol(&b, k->id);
    SL_BUF_LIT(&b, ", ");
    qcol(&b, k->receive_count);
    SL_BUF_LIT(&b, ", ");
    epoch_ms(&b, k->created_at);
    SL_BUF_LIT(&b, ", ");
    epoch_ms(&b, k->first_received_at);
    SL_BUF_LIT(&b, ", (extract(epoch FROM now()) * 1000)::bigint, ");
    qcol(&b, k->payload);
    SL_BUF_LIT(&b, "::text, ");
    if (k->attributes) {
        qcol(&b, k->attributes);
        SL_BUF_LIT(&b, "::text, ");
    } else {
        SL_BUF_LIT(&b, "NULL::text, ");
    }
    if (k->group) {
        qcol(&b, k->group);
        SL_BUF_LIT(&b, "::text");
    } else {
        SL_BUF_LIT(&b, "NULL::text");
    }
    q->claim = steal(&b);

    SL_BUF_LIT(&b, "DELETE FROM ");
    sl_buf_puts(&b, q->table_q);
    SL_BUF_LIT(&b, " WHERE ");
    sl_pgq_quote_name(&b, k->id);
    SL_BUF_LIT(&b, " = ANY($1::bigint[])");
    q->delete = steal(&b);

    /* Renews our claims only: a row another process claimed meanwhile (our lease ran out) has
     * another receive count. */
    SL_BUF_LIT(&b, "UPDATE ");
    sl_buf_puts(&b, q->table_q);
    SL_BUF_LIT(&b, " AS sluice_q SET ");
    sl_pgq_quote_name(&b, k->visible_after);
    sl_buf_printf(&b, " = %s FROM unnest($1::bigint[], $2::bigint[]) AS sluice_h(id, n) WHERE ",
                  vt);
    qcol(&b, k->id);
    SL_BUF_LIT(&b, " = sluice_h.id AND ");
    qcol(&b, k->receive_count);
    SL_BUF_LIT(&b, " = sluice_h.n");
    q->heartbeat = steal(&b);

    q->columns = sl_strdup("SELECT a.attname::text, a.atttypid::int8, "
                           "format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
                           "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT "
                           "a.attisdropped ORDER BY a.attnum");

    /* Bounded, so that a huge table does not hold the deletes queued behind it: visible rows
     * counted up to SL_PGQ_COUNT_CAP (one more means "more"), and the oldest visible row's age
     * from the front of the primary key, the claim's own path. */
    sl_buf_printf(&b, "SELECT (SELECT count(*) FROM (SELECT 1 FROM %s WHERE ", q->table_q);
    sl_pgq_quote_name(&b, k->visible_after);
    sl_buf_printf(&b, " <= now() LIMIT %d) sluice_v), ", SL_PGQ_COUNT_CAP + 1);
    if (k->created_at) {
        SL_BUF_LIT(&b, "(SELECT extract(epoch FROM now() - ");
        sl_pgq_quote_name(&b, k->created_at);
        sl_buf_printf(&b, ")::float8 FROM %s WHERE ", q->table_q);
        sl_pgq_quote_name(&b, k->visible_after);
        SL_BUF_LIT(&b, " <= now() ORDER BY ");
        sl_pgq_quote_name(&b, k->id);
        SL_BUF_LIT(&b, " LIMIT 1)");
    } else {
        SL_BUF_LIT(&b, "NULL::float8");
    }
    q->metrics = steal(&b);

    if (c->notify) {
        SL_BUF_LIT(&b, "LISTEN ");
        sl_pgq_quote_name(&b, c->channel);
        q->listen = steal(&b);
    }
    /* The server cancels a statement at command_timeout (what it did is rolled back), before
     * the client gives the connection up (command_timeout + 1 s, queue.c). */
    sl_buf_printf(&b, "SET statement_timeout = %lld", (long long)c->conn.command_timeout_ms);
    q->setup = steal(&b);
    sl_buf_release(&b);
}

void sl_pgq_sql_release(struct sl_pgq_sql *q)
{
    free(q->table_q);
    free(q->archive_q);
    free(q->claim);
    free(q->delete);
    free(q->heartbeat);
    free(q->columns);
    free(q->metrics);
    free(q->listen);
    free(q->setup);
    memset(q, 0, sizeof(*q));
}

char *sl_pgq_sql_archive(const struct sl_pgq_sql *q, const char *const *cols, size_t n)
{
    struct sl_buf b, list;
    sl_buf_init(&b);
    sl_buf_init(&list);
    for (size_t i = 0; i < n; i++) {
        if (i)
            SL_BUF_LIT(&list, ", ");
        sl_pgq_quote_name(&list, cols[i]);
    }
    /* The delete's own WHERE: q->delete is "DELETE FROM t WHERE ...". */
    SL_BUF_LIT(&b, "WITH sluice_moved AS (");
    sl_buf_puts(&b, q->delete);
    SL_BUF_LIT(&b, " RETURNING ");
    sl_buf_puts(&b, list.data ? list.data : "");
    SL_BUF_LIT(&b, ") INSERT INTO ");
    sl_buf_puts(&b, q->archive_q);
    SL_BUF_LIT(&b, " (");
    sl_buf_puts(&b, list.data ? list.data : "");
    SL_BUF_LIT(&b, ") SELECT ");
    sl_buf_puts(&b, list.data ? list.data : "");
    SL_BUF_LIT(&b, " FROM sluice_moved");
    sl_buf_release(&list);
    return steal(&b);
}

/* ---- a table's columns against the mapping ---- */

enum {
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_JSON = 114,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_JSONB = 3802,
};

static bool is_int(unsigned t)
{
    return t == OID_INT8 || t == OID_INT4 || t == OID_INT2;
}

static bool is_time(unsigned t)
{
    return t == OID_TIMESTAMPTZ || t == OID_TIMESTAMP;
}

static bool is_json_text(unsigned t)
{
    return t == OID_JSON || t == OID_JSONB || t == OID_TEXT || t == OID_VARCHAR || t == OID_BPCHAR;
}

static bool any_type(unsigned t)
{
    (void)t;
    return true;
}

const char *sl_pgq_check_columns(const struct sl_pgq_cfg *c, const char *const *names,
                                 const unsigned *types, const char *const *type_names, size_t n,
                                 char *buf, size_t cap)
{
    static const struct {
        bool (*ok)(unsigned);
        const char *allowed;
    } rules[] = {
        {is_int, "an integer column: bigint, integer or smallint"},
        {any_type, ""},
        {is_time, "timestamptz (or timestamp)"},
        {is_int, "an integer column: bigint, integer or smallint"},
        {is_time, "timestamptz (or timestamp)"},
        {is_time, "timestamptz (or timestamp)"},
        {is_json_text, "json, jsonb or text holding a JSON object"},
        {any_type, ""},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(col_keys); i++) {
        const char *want = col_get(&c->columns, i);
        if (!want)
            continue;
        size_t k = 0;
        while (k < n && strcmp(names[k], want) != 0)
            k++;
        if (k == n) {
            struct sl_buf have;
            sl_buf_init(&have);
            for (size_t j = 0; j < n && have.len < 200; j++)
                sl_buf_printf(&have, "%s%s", j ? ", " : "", names[j]);
            snprintf(buf, cap,
                     "columns.%s: column \"%s\" not found in table %s (its columns: %s; names "
                     "are case-sensitive%s%s%s)",
                     col_keys[i].key, want, c->table, have.len ? have.data : "none",
                     col_keys[i].optional ? "; set columns." : "",
                     col_keys[i].optional ? col_keys[i].key : "",
                     col_keys[i].optional ? ": \"\" to go without it" : "");
            sl_buf_release(&have);
            return buf;
        }
        if (!rules[i].ok(types[k])) {
            snprintf(buf, cap, "columns.%s: column \"%s\" of table %s is %s (allowed: %s)",
                     col_keys[i].key, want, c->table, type_names[k] ? type_names[k] : "?",
                     rules[i].allowed);
            return buf;
        }
    }
    return NULL;
}

/* ---- sluice init ---- */

void sl_pgq_init_sql(const struct sl_pgq_cfg *c, struct sl_buf *sql)
{
    const struct sl_pgq_columns *k = &c->columns;
    struct sl_buf t;
    sl_buf_init(&t);
    sl_pgq_quote_table(&t, c->table);
    /* Run again, the IF NOT EXISTS statements would each print a NOTICE ("already exists,
     * skipping"): not news. LOCAL: for this transaction only. */
    SL_BUF_LIT(sql, "SET LOCAL client_min_messages = warning;\n");
    SL_BUF_LIT(sql, "CREATE TABLE IF NOT EXISTS ");
    sl_buf_puts(sql, t.data);
    SL_BUF_LIT(sql, " (\n    ");
    sl_pgq_quote_name(sql, k->id);
    SL_BUF_LIT(sql, " bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n    ");
    sl_pgq_quote_name(sql, k->payload);
    SL_BUF_LIT(sql, " text NOT NULL,\n    ");
    sl_pgq_quote_name(sql, k->visible_after);
    SL_BUF_LIT(sql, " timestamptz NOT NULL DEFAULT now(),\n    ");
    sl_pgq_quote_name(sql, k->receive_count);
    SL_BUF_LIT(sql, " integer NOT NULL DEFAULT 0");
    if (k->created_at) {
        SL_BUF_LIT(sql, ",\n    ");
        sl_pgq_quote_name(sql, k->created_at);
        SL_BUF_LIT(sql, " timestamptz NOT NULL DEFAULT now()");
    }
    if (k->first_received_at) {
        SL_BUF_LIT(sql, ",\n    ");
        sl_pgq_quote_name(sql, k->first_received_at);
        SL_BUF_LIT(sql, " timestamptz");
    }
    if (k->attributes) {
        SL_BUF_LIT(sql, ",\n    ");
        sl_pgq_quote_name(sql, k->attributes);
        SL_BUF_LIT(sql, " jsonb");
    }
    if (k->group) {
        SL_BUF_LIT(sql, ",\n    ");
        sl_pgq_quote_name(sql, k->group);
        SL_BUF_LIT(sql, " text");
    }
    SL_BUF_LIT(sql, "\n);\n");

    if (c->notify) {
        /* One NOTIFY per INSERT statement (a bulk insert wakes sluice once); the schema of the
         * function is the table's. */
        struct sl_buf fn;
        sl_buf_init(&fn);
        const char *dot = strchr(c->table, '.');
        if (dot) {
            sl_buf_putc(&fn, '"');
            sl_buf_append(&fn, c->table, (size_t)(dot - c->table));
            SL_BUF_LIT(&fn, "\".");
        }
        sl_buf_printf(&fn, "\"%.48s_sluice_notify\"", table_name(c->table));
        SL_BUF_LIT(sql, "CREATE OR REPLACE FUNCTION ");
        sl_buf_puts(sql, fn.data);
        SL_BUF_LIT(sql, "() RETURNS trigger LANGUAGE plpgsql AS $sluice$\nBEGIN\n    PERFORM "
                        "pg_notify('");
        sl_buf_puts(sql, c->channel);
        SL_BUF_LIT(sql, "', '');\n    RETURN NULL;\nEND\n$sluice$;\n");
        SL_BUF_LIT(sql, "DROP TRIGGER IF EXISTS \"sluice_notify\" ON ");
        sl_buf_puts(sql, t.data);
        SL_BUF_LIT(sql, ";\nCREATE TRIGGER \"sluice_notify\" AFTER INSERT ON ");
        sl_buf_puts(sql, t.data);
        SL_BUF_LIT(sql, " FOR EACH STATEMENT EXECUTE FUNCTION ");
        sl_buf_puts(sql, fn.data);
        SL_BUF_LIT(sql, "();\n");
        sl_buf_release(&fn);
    }
    if (c->archive_table) {
        struct sl_buf a;
        sl_buf_init(&a);
        sl_pgq_quote_table(&a, c->archive_table);
        SL_BUF_LIT(sql, "CREATE TABLE IF NOT EXISTS ");
        sl_buf_puts(sql, a.data);
        SL_BUF_LIT(sql, " (LIKE ");
        sl_buf_puts(sql, t.data);
        SL_BUF_LIT(sql, ");\nALTER TABLE ");
        sl_buf_puts(sql, a.data);
        SL_BUF_LIT(sql, " ADD COLUMN IF NOT EXISTS \"archived_at\" timestamptz NOT NULL DEFAULT "
                        "now();\n");
        sl_buf_release(&a);
    }
    sl_buf_release(&t);
}
