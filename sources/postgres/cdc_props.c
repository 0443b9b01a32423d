/* The postgres-cdc source's keys (they also make its section of docs/CONFIGURATION.md) and the
 * checks a property table cannot express. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "sources/postgres/cdc_int.h"

#define OFF(f) offsetof(struct sl_pgcdc_cfg, f)

static const struct sl_prop cdc_props[] = {
    /* conninfo, password, connect_timeout, command_timeout: shared by every PostgreSQL
     * module. */
    {.type = SL_PROP_INLINE, .offset = OFF(conn), .sub = &sl_pg_conn_table},
    {.name = "publication",
     .type = SL_PROP_STRING,
     .offset = OFF(publication),
     .flags = SL_PROP_REQUIRED,
     .desc = "The publication whose tables are streamed (letters, digits and _, up to 63)."},
    {.name = "slot",
     .type = SL_PROP_STRING,
     .offset = OFF(slot),
     .desc = "The logical replication slot (pgoutput) that keeps the position: lower-case "
             "letters, digits and _, up to 63. Default: `sluice_<source name>` (other characters "
             "become _). One slot is one lane, read by one sluice process at a time."},
    {.name = "tables",
     .type = SL_PROP_STRING_LIST,
     .offset = OFF(tables),
     .desc = "Tables (`name` or `schema.name`) the publication is created FOR when it is missing "
             "(`create: true`, or `sluice init`); empty: FOR ALL TABLES. An existing publication "
             "is used as it is."},
    {.name = "create",
     .type = SL_PROP_BOOL,
     .offset = OFF(create),
     .def = "true",
     .desc = "Create the publication and the slot when they are missing; false: they must "
             "exist, and the source reports which one does not."},
    {.name = "region",
     .type = SL_PROP_STRING,
     .offset = OFF(region),
     .def = "",
     .desc = "What records carry as awsRegion."},
    {.name = "status_interval",
     .type = SL_PROP_DURATION,
     .offset = OFF(status_interval_ms),
     .def = "5s",
     .min = 100,
     .max = 60000,
     .desc = "How often a standby status update (the confirmed position) is sent even when "
             "nothing changed; keep it below the server's wal_sender_timeout."},
    {.name = "standby_poll",
     .type = SL_PROP_DURATION,
     .offset = OFF(standby_poll_ms),
     .def = "1s",
     .min = 50,
     .max = 60000,
     .desc = "How often a standby process tries to take the slot's advisory lock."},
    {.name = "max_transaction_bytes",
     .type = SL_PROP_SIZE,
     .offset = OFF(max_transaction_bytes),
     .def = "256MB",
     .min = 65536,
     .max = 4294967295u,
     .desc = "A transaction's changes are held until its COMMIT; one whose rendered changes "
             "grow past this is emitted in parts of that size before its COMMIT arrives."},
};

const struct sl_prop_table sl_pgcdc_source_table = {
    .name = "sources[] (type: postgres-cdc)",
    .desc = "Row changes of the tables of a PostgreSQL publication, through a logical "
            "replication slot (pgoutput); records are DynamoDB-Streams-shaped "
            "(docs/POSTGRES.md).",
    .props = cdc_props,
    .nprops = SL_ARRAY_LEN(cdc_props),
    .struct_size = sizeof(struct sl_pgcdc_cfg),
};

void sl_pgcdc_cfg_release(struct sl_pgcdc_cfg *c)
{
    sl_props_release(&sl_pgcdc_source_table, c);
}

/* Names go into SQL and replication commands as quoted identifiers: keeping them to identifier
 * characters means no quoting rules to get wrong. */
static bool ident_ok(const char *s, bool lower_only, bool dotted)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > (dotted ? 2 * SL_PGCDC_NAME_MAX + 1 : SL_PGCDC_NAME_MAX))
        return false;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.' && dotted && i > 0 && i + 1 < n && dots++ == 0)
            continue;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')
            continue;
        if (!lower_only && ch >= 'A' && ch <= 'Z')
            continue;
        return false;
    }
    return true;
}

int sl_pgcdc_cfg_bind(const struct sl_config *cfg, const struct sl_cfg_typed *sec,
                      struct sl_pgcdc_cfg *c, struct sl_err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = sl_config_bind_typed(cfg, sec, &sl_pgcdc_source_table, c, err);
    if (rc < 0)
        return rc;
    rc = sl_pg_conn_cfg_check(&c->conn, cfg ? cfg->file : NULL, sec->path ? sec->path : "sources[]",
                              err);
    if (rc < 0)
        goto fail;
    if (!ident_ok(c->publication, false, false)) {
        rc = sl_config_section_error(
            err, cfg, sec, "publication",
            "\"%s\" is not a publication name (allowed: letters, digits and _, 1 to "
            "63 characters)",
            c->publication ? c->publication : "");
        goto fail;
    }
    if (c->slot && !ident_ok(c->slot, true, false)) {
        rc = sl_config_section_error(
            err, cfg, sec, "slot",
            "\"%s\" is not a replication slot name (allowed: lower-case letters, "
            "digits and _, 1 to 63 characters)",
            c->slot);
        goto fail;
    }
    for (size_t i = 0; i < c->tables.n; i++) {
        if (!ident_ok(c->tables.v[i], false, true)) {
            char key[48];
            snprintf(key, sizeof(key), "tables[%zu]", i);
            rc = sl_config_section_error(
                err, cfg, sec, key,
                "\"%s\" is not a table name (allowed: `name` or `schema.name` of "
                "letters, digits and _)",
                c->tables.v[i]);
            goto fail;
        }
    }
    if (!c->slot) {
        char slot[SL_PGCDC_NAME_MAX + 1];
        snprintf(slot, sizeof(slot), "sluice_%s", sec->name ? sec->name : "cdc");
        for (char *p = slot; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
            else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                *p = '_';
        }
        c->slot = sl_strdup(slot);
    }
    return 0;
fail:
    sl_pgcdc_cfg_release(c);
    return rc;
}

int64_t sl_pgcdc_lock_key(const char *slot)
{
    uint64_t h = 14695981039346656037ull;
    const char *prefix = "sluice-cdc:";
    for (const char *p = prefix; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    for (const char *p = slot; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (int64_t)h;
}

/* "schema"."name" or "name" (names were checked to be identifier characters). */
static void put_table(struct sl_buf *sql, const char *t)
{
    const char *dot = strchr(t, '.');
    if (dot) {
        sl_buf_putc(sql, '"');
        sl_buf_append(sql, t, (size_t)(dot - t));
        SL_BUF_LIT(sql, "\".\"");
        sl_buf_puts(sql, dot + 1);
        sl_buf_putc(sql, '"');
    } else {
        sl_buf_putc(sql, '"');
        sl_buf_puts(sql, t);
        sl_buf_putc(sql, '"');
    }
}

void sl_pgcdc_init_sql(const struct sl_pgcdc_cfg *c, struct sl_buf *sql)
{
    /* CREATE PUBLICATION has no IF NOT EXISTS: a DO block makes it idempotent. */
    SL_BUF_LIT(sql, "DO $sluice$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE "
                    "pubname = '");
    sl_buf_puts(sql, c->publication);
    SL_BUF_LIT(sql, "') THEN CREATE PUBLICATION \"");
    sl_buf_puts(sql, c->publication);
    sl_buf_putc(sql, '"');
    if (c->tables.n == 0) {
        SL_BUF_LIT(sql, " FOR ALL TABLES");
    } else {
        SL_BUF_LIT(sql, " FOR TABLE ");
        for (size_t i = 0; i < c->tables.n; i++) {
            if (i)
                SL_BUF_LIT(sql, ", ");
            put_table(sql, c->tables.v[i]);
        }
    }
    SL_BUF_LIT(sql, "; END IF; END $sluice$;\n");
}
