/* The PostgreSQL connection keys shared by the PostgreSQL sources and the PostgreSQL DLQ sink. */
#include "clients/postgres/conf.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

#define OFF(f) offsetof(struct sl_pg_conn_cfg, f)

static const struct sl_prop conn_props[] = {
    {.name = "conninfo",
     .type = SL_PROP_STRING,
     .offset = OFF(conninfo),
     .flags = SL_PROP_REQUIRED,
     .desc = "The server to connect to: a libpq connection string (`host=db.internal port=5432 "
             "dbname=app user=sluice`) or URI (`postgresql://sluice@db.internal/app`), as "
             "described in PostgreSQL's \"Connection Strings\" documentation; keys left out take "
             "libpq's defaults and PG* environment variables. It must not hold a password: set "
             "`password` instead."},
    {.name = "password",
     .type = SL_PROP_STRING,
     .offset = OFF(password),
     .flags = SL_PROP_SECRET,
     .desc = "Password for the connection; unset: none (trust, peer, a certificate, or "
             "`passfile` in conninfo). Never logged."},
    {.name = "connect_timeout",
     .type = SL_PROP_DURATION,
     .offset = OFF(connect_timeout_ms),
     .def = "5s",
     .min = 10,
     .max = 600000,
     .desc = "How long connecting (with authentication) may take before it is retried."},
    {.name = "command_timeout",
     .type = SL_PROP_DURATION,
     .offset = OFF(command_timeout_ms),
     .def = "30s",
     .min = 10,
     .max = 3600000,
     .desc = "How long a statement may wait for its result; then the connection is dropped and "
             "made again (what the statement did is rolled back by the server unless it had "
             "committed)."},
};

const struct sl_prop_table sl_pg_conn_table = {
    .name = "PostgreSQL connection",
    .props = conn_props,
    .nprops = SL_ARRAY_LEN(conn_props),
    .struct_size = sizeof(struct sl_pg_conn_cfg),
};

int sl_pg_conn_cfg_check(const struct sl_pg_conn_cfg *c, const char *file, const char *path,
                         struct sl_err *err)
{
    const char *f = file ? file : "config";
    const char *p = path ? path : "";
    if (!c->conninfo || !*c->conninfo)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.conninfo: empty (allowed: a libpq connection string or "
                          "postgresql:// URI)",
                          f, p);
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(c->conninfo, &why);
    if (!opts) {
        /* libpq's message names the bad keyword or URI part; strip its newline. */
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", why ? why : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        PQfreemem(why);
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.conninfo: not a connection string: %s (allowed: a libpq "
                          "connection string or postgresql:// URI)",
                          f, p, msg);
    }
    bool has_password = false;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            has_password = true;
    PQconninfoFree(opts);
    if (has_password)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.conninfo: holds a password (allowed: a connection string "
                          "without one; put the password in %s.password, e.g. "
                          "password: ${PGPASSWORD})",
                          f, p, p);
    return 0;
}

void sl_pg_conn_endpoint(const char *conninfo, char *out, size_t cap)
{
    const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && !host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    snprintf(out, cap, "%s:%s/%s", host ? host : "localhost", port ? port : "5432",
             db ? db : (user ? user : "postgres"));
    if (opts)
        PQconninfoFree(opts);
}
