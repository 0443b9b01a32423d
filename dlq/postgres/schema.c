/* The PostgreSQL DLQ sink's keys, its table name (checked, then quoted as an identifier), the
 * statements it runs on that table, and its init op (`sluice init`).
 *
 * One row per entry: the canonical document (sl_dlq_entry_to_json, what `sluice dlq show`
 * prints) in a jsonb column, and the fields a listing filters on or a person queries by in
 * columns of their own, filled from that document by the INSERT itself (so the text sent is the
 * document alone, already valid UTF-8). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/postgres/sync.h"
#include "core/mem.h"
#include "dlq/postgres/postgres_int.h"

#define OFF(f) offsetof(struct pgdlq_cfg, f)

static const struct sl_prop pgdlq_props[] = {
    /* conninfo, password, connect_timeout, command_timeout: shared with the PostgreSQL
     * sources. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_pg_conn_table},
    {.name = "table",
     .type = SL_PROP_STRING,
     .offset = OFF(table),
     .def = PGDLQ_TABLE_DEFAULT,
     .desc = "The table entries go to: `name` or `schema.name`, each part letters, digits and "
             "`_` (not starting with a digit), at most 48 bytes; quoted in SQL, so it is "
             "case-sensitive as written. One table per DLQ sink."},
    {.name = "create_table",
     .type = SL_PROP_BOOL,
     .offset = OFF(create_table),
     .def = "true",
     .desc = "Create the table and its indexes when missing (CREATE ... IF NOT EXISTS) on "
             "connecting. false: the table must exist (`sluice init` creates it, or `sluice "
             "init --print` gives the SQL for a DBA); writes fail until it does."},
};

const struct sl_prop_table sl_pgdlq_table = {
    .name = "dlqs[] (type: postgres)",
    .desc = "Entries are rows of a PostgreSQL table (the entry's document in a jsonb column); "
            "`sluice dlq` lists, shows, redrives and purges them (docs/POSTGRES.md).",
    .props = pgdlq_props,
    .nprops = SL_ARRAY_LEN(pgdlq_props),
    .struct_size = sizeof(struct pgdlq_cfg),
};

/* ---- the table name ---- */

static bool ident_ok(const char *s, size_t n)
{
    if (n == 0 || n > PGDLQ_IDENT_MAX || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

int sl_pgdlq_table_check(const char *table, const char *file, const char *path, struct sl_err *err)
{
    const char *t = table ? table : "";
    const char *dot = strchr(t, '.');
    bool ok = dot ? ident_ok(t, (size_t)(dot - t)) && ident_ok(dot + 1, strlen(dot + 1))
                  : ident_ok(t, strlen(t));
    if (ok)
        return 0;
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                      "%s: %s.table: \"%.80s\" is not a table name (allowed: name or "
                      "schema.name, each part 1 to %d letters, digits or _, not starting with a "
                      "digit)",
                      file ? file : "config", path ? path : "dlqs[]", t, PGDLQ_IDENT_MAX);
}

/* ---- statements ---- */

/* The columns every row fills from its document. */
static const char INSERT_HEAD[] =
    "(id, mapping, function, source, source_type, record_id, condition, created_at, "
    "record_time, first_failure_at, last_failure_at, doc)"
    " SELECT d->>'id', d->>'mapping', d->>'function', d->>'source', d->>'sourceType',"
    " d->>'recordId', d->>'condition', (d->>'createdAt')::timestamptz,"
    " (d->>'recordTime')::timestamptz, (d->>'firstFailureAt')::timestamptz,"
    " (d->>'lastFailureAt')::timestamptz, d FROM (VALUES ";
/* A retried write whose first try committed (its answer lost with the connection) finds its
 * row there: the entry is stored, which is all the retry asks. The rows inserted come back, so
 * that depth counts only those. */
static const char INSERT_TAIL[] = ") AS e(d) ON CONFLICT (id) DO NOTHING RETURNING mapping";

void sl_pgdlq_insert_sql(const struct pgdlq_sql *s, int n, struct sl_buf *out)
{
    sl_buf_printf(out, "INSERT INTO %s %s", s->table, INSERT_HEAD);
    for (int i = 1; i <= n; i++)
        sl_buf_printf(out, "%s($%d::jsonb)", i > 1 ? ", " : "", i);
    sl_buf_puts(out, INSERT_TAIL);
}

/* Positions are (created_at in microseconds since the epoch, seq): exact, as timestamptz is. */
#define US_TO_TS(p) "('epoch'::timestamptz + " p "::bigint * interval '1 microsecond')"
static const char LIST_TAIL[] =
    " WHERE ($1::text IS NULL OR mapping = $1)"
    " AND ($2::bigint IS NULL OR created_at >= " US_TO_TS(
        "$2") ")"
              " AND ($3::text IS NULL OR id = $3 OR record_id = $3)"
              " AND ($4::bigint IS NULL OR (created_at, seq) > (" US_TO_TS(
                  "$4") ", $5::bigint))"
                        " ORDER BY created_at, seq LIMIT $6";

void sl_pgdlq_sql_build(const char *table, struct pgdlq_sql *out)
{
    const char *dot = strchr(table, '.');
    const char *name = dot ? dot + 1 : table;
    struct sl_buf b;
    sl_buf_init(&b);
    if (dot)
        sl_buf_printf(&b, "\"%.*s\".\"%s\"", (int)(dot - table), table, name);
    else
        sl_buf_printf(&b, "\"%s\"", table);
    out->table = sl_buf_steal(&b, NULL);
    const char *t = out->table;

    sl_buf_printf(&b,
                  "CREATE TABLE IF NOT EXISTS %s (\n"
                  "  seq bigint GENERATED ALWAYS AS IDENTITY,\n"
                  "  id text PRIMARY KEY,\n"
                  "  mapping text NOT NULL,\n"
                  "  function text,\n"
                  "  source text,\n"
                  "  source_type text,\n"
                  "  record_id text,\n"
                  "  condition text NOT NULL,\n"
                  "  created_at timestamptz NOT NULL,\n"
                  "  record_time timestamptz,\n"
                  "  first_failure_at timestamptz,\n"
                  "  last_failure_at timestamptz,\n"
                  "  doc jsonb NOT NULL\n"
                  ");\n"
                  "CREATE INDEX IF NOT EXISTS \"%s_by_mapping\" ON %s (mapping, created_at, seq);\n"
                  "CREATE INDEX IF NOT EXISTS \"%s_by_time\" ON %s (created_at, seq);\n"
                  "CREATE INDEX IF NOT EXISTS \"%s_by_record\" ON %s (record_id);\n",
                  t, name, t, name, t, name, t);
    out->schema = sl_buf_steal(&b, NULL);
    sl_pgdlq_insert_sql(out, 1, &b);
    out->insert = sl_buf_steal(&b, NULL);
    sl_buf_printf(&b, "DELETE FROM %s WHERE id = $1 RETURNING mapping", t);
    out->remove = sl_buf_steal(&b, NULL);
    sl_buf_printf(&b, "SELECT mapping, count(*) FROM %s GROUP BY mapping", t);
    out->count = sl_buf_steal(&b, NULL);
    sl_buf_printf(&b,
                  "SELECT id, doc::text, (extract(epoch FROM created_at) * 1000000)::bigint, seq"
                  " FROM %s%s",
                  t, LIST_TAIL);
    out->list = sl_buf_steal(&b, NULL);
    sl_buf_release(&b);
}

void sl_pgdlq_sql_release(struct pgdlq_sql *s)
{
    free(s->schema);
    free(s->insert);
    free(s->remove);
    free(s->count);
    free(s->list);
    free(s->table);
    memset(s, 0, sizeof(*s));
}

/* ---- binding ---- */

int sl_pgdlq_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                  struct pgdlq_cfg *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = sl_config_bind_typed(cfg, sec, &sl_pgdlq_table, out, err);
    if (rc < 0)
        return rc;
    const char *file = cfg && cfg->file ? cfg->file : "config";
    rc = sl_pg_conn_cfg_check(&out->conn, file, sec->path, err);
    if (rc == 0)
        rc = sl_pgdlq_table_check(out->table, file, sec->path, err);
    if (rc < 0)
        sl_props_release(&sl_pgdlq_table, out);
    return rc;
}

/* ---- sluice init ---- */

int sl_pgdlq_init(const struct sl_config *cfg, const struct sl_cfg_typed *sec, bool apply,
                  struct sl_buf *sql, struct sl_err *err)
{
    struct pgdlq_cfg c;
    int rc = sl_pgdlq_bind(cfg, sec, &c, err);
    if (rc < 0)
        return rc;
    struct pgdlq_sql s;
    sl_pgdlq_sql_build(c.table, &s);
    sl_buf_puts(sql, s.schema);
    if (apply)
        rc = sl_pg_exec_script(&c.conn, s.schema, err);
    sl_pgdlq_sql_release(&s);
    sl_props_release(&sl_pgdlq_table, &c);
    return rc;
}
