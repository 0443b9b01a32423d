/* The routes of Lambda's event-source-mapping API on the admin listener (cli/esm.h): the
 * status codes, error types and bodies of the AWS Lambda API reference
 * (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html and its
 * siblings); docs/ESM_API.md. */
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/app.h"
#include "cli/esm.h"
#include "cli/readers.h"
#include "core/buf.h"
#include "core/jw.h"
#include "core/mem.h"
#include "core/time.h"
#include "mappings/filter.h"

#define PREFIX        "/2015-03-31/event-source-mappings"
#define PAGE_MAX      100
#define FUNCTION_ARN  "arn:sluice:lambda:local:000000000000:function:"
#define TYPE_INVALID  "InvalidParameterValueException"
#define TYPE_CONFLICT "ResourceConflictException"
#define TYPE_IN_USE   "ResourceInUseException"
#define TYPE_NOTFOUND "ResourceNotFoundException"

/* Lambda's error shape: {"Type":"User","message":...} and the type in X-Amzn-ErrorType, which
 * the AWS SDKs read to name the exception. */
static void respond_error(struct sl_http_exchange *x, int status, const char *type,
                          const char *message)
{
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "X-Amzn-ErrorType: %s", type);
    const char *const hdrs[] = {hdr};
    json_t *body =
        json_pack("{s:s, s:s}", "Type", status >= 500 ? "Service" : "User", "message", message);
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    sl_http_respond(x, status, "application/json", hdrs, 1, text, strlen(text));
    free(text);
    json_decref(body);
}

static void respond_esm_error(struct sl_http_exchange *x, const struct sl_esm_error *e)
{
    respond_error(x, e->status, e->type, e->message);
}

static void respond_doc(struct sl_http_exchange *x, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    sl_http_respond_json(x, status, text, strlen(text));
    free(text);
    json_decref(doc);
}

static struct sl_esm_entry *entry_find(struct sl_app *app, const char *uuid, size_t len)
{
    struct sl_esm *esm = app->esm;
    for (size_t i = 0; esm && i < esm->n; i++) {
        if (len == SL_ESM_UUID_LEN && memcmp(esm->v[i]->uuid, uuid, len) == 0)
            return esm->v[i];
    }
    return NULL;
}

static struct sl_mapping *mapping_find(struct sl_app *app, const char *name)
{
    for (size_t i = 0; i < app->nmappings; i++) {
        if (strcmp(sl_mapping_name(app->mappings[i]), name) == 0)
            return app->mappings[i];
    }
    return NULL;
}

/* EventSourceMappingConfiguration with its State now: a change being applied, or the running
 * mapping's Lambda state (mappings/mapping.h). */
static json_t *describe(struct sl_app *app, const struct sl_esm_entry *e)
{
    if (e->transition)
        return sl_esm_describe(e, e->transition, "User action", "No records processed");
    if (e->problem[0]) {
        char last[300];
        snprintf(last, sizeof(last), "PROBLEM: %s", e->problem);
        return sl_esm_describe(e, "Disabled", "ESM_CONFIG_NOT_VALID", last);
    }
    struct sl_mapping *m = mapping_find(app, e->name);
    if (!m)
        return sl_esm_describe(e, "Creating", "User action", "No records processed");
    struct sl_buf b;
    struct sl_jw w;
    sl_buf_init(&b);
    sl_jw_init(&w, &b);
    sl_mapping_describe(m, &w);
    json_t *live = json_loadb(b.data, b.len, 0, NULL);
    sl_buf_release(&b);
    const char *reason = json_string_value(json_object_get(live, "StateTransitionReason"));
    const char *last = json_string_value(json_object_get(live, "LastProcessingResult"));
    json_t *out = sl_esm_describe(e, sl_mapping_state(m), reason ? reason : "User action",
                                  last ? last : "No records processed");
    json_decref(live);
    return out;
}

static json_t *body_json(struct sl_http_exchange *x, const struct sl_http_req *req)
{
    json_error_t je;
    json_t *body = req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je)
                                 : json_object();
    if (!json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "the request body is not a JSON object: %s",
                 body ? "another JSON value" : je.text);
        respond_error(x, 400, TYPE_INVALID, msg);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* The type of the configured source the doc reads, or NULL. */
static const struct sl_source_ops *doc_source_ops(const struct sl_config *cfg, const json_t *doc)
{
    char source[256], function[256];
    sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
    const struct sl_cfg_typed *sec = sl_config_find(&cfg->sources, source);
    return sec && sec->type ? sl_source_find_type(sec->type) : NULL;
}

/* Whether item is one of the comma-separated members of csv (spaces around them ignored). */
static bool csv_has(const char *csv, const char *item, size_t *members)
{
    bool found = false;
    size_t n = 0, len = strlen(item);
    for (const char *p = csv; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if (last > p) {
            n++;
            found = found || ((size_t)(last - p) == len && memcmp(p, item, len) == 0);
        }
        p = end;
    }
    *members = n;
    return found;
}

/* A kafka section reads exactly these bootstrap servers (in any order) and this one topic. */
static bool kafka_matches(const struct sl_cfg_typed *sec, json_t *servers, const char *topic)
{
    const char *csv = json_string_value(json_object_get(sec->raw, "bootstrap_servers"));
    json_t *topics = json_object_get(sec->raw, "topics");
    const char *only = json_string_value(json_array_get(topics, 0));
    if (topic && (json_array_size(topics) != 1 || !only || strcmp(only, topic) != 0))
        return false;
    if (!servers)
        return true;
    size_t members = 0, i;
    json_t *h;
    json_array_foreach(servers, i, h)
    {
        if (!csv_has(csv, json_string_value(h), &members))
            return false;
    }
    return members == json_array_size(servers);
}

/* SelfManagedEventSource and Topics name a Kafka cluster and topic: the doc reads the
 * configured kafka source with those bootstrap servers and exactly that topic (docs/ESM_API.md).
 * With EventSourceArn, Topics must be what that source reads. */
static int resolve_kafka(struct sl_app *app, json_t *doc, struct sl_esm_error *e)
{
    const struct sl_config *cfg = &app->cfg;
    json_t *servers = json_object_get(
        json_object_get(json_object_get(doc, "SelfManagedEventSource"), "Endpoints"),
        "KAFKA_BOOTSTRAP_SERVERS");
    const char *topic = json_string_value(json_array_get(json_object_get(doc, "Topics"), 0));
    if (!servers) {
        const struct sl_source_ops *ops = doc_source_ops(cfg, doc);
        if (!topic || !ops)
            return 0;
        char source[256], function[256];
        sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
        if (strcmp(ops->type, "kafka") != 0)
            return sl_esm_invalid(e, "Topics is only valid for a Kafka event source, not %s",
                                  ops->type);
        if (!kafka_matches(sl_config_find(&cfg->sources, source), NULL, topic))
            return sl_esm_invalid(e,
                                  "Topics [\"%s\"]: source \"%s\" does not read exactly that "
                                  "topic (its topics are set in the configuration file)",
                                  topic, source);
        return 0;
    }
    const char *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->sources.n; i++) {
        const struct sl_cfg_typed *sec = SL_OBJLIST_AT(cfg->sources, struct sl_cfg_typed, i);
        if (sec->type && strcmp(sec->type, "kafka") == 0 && kafka_matches(sec, servers, topic)) {
            found = sec->name;
            n++;
        }
    }
    char *list = json_dumps(servers, JSON_COMPACT);
    int rc = 0;
    if (n == 0)
        rc = sl_esm_invalid(e,
                            "SelfManagedEventSource: no kafka source of this sluice reads topic "
                            "\"%s\" from %s: configure one with those bootstrap_servers and "
                            "topics: [%s]",
                            topic, list, topic);
    else if (n > 1)
        rc = sl_esm_invalid(e,
                            "SelfManagedEventSource: %zu kafka sources read topic \"%s\" from %s: "
                            "name one in EventSourceArn instead",
                            n, topic, list);
    else
        sl_esm_doc_set_source(doc, found);
    free(list);
    return rc;
}

static int group_taken(struct sl_esm_error *e, const char *group, const char *mapping,
                       const char *source)
{
    e->status = 409;
    e->type = TYPE_CONFLICT;
    snprintf(e->message, sizeof(e->message),
             "The consumer group \"%s\" is already used by mapping \"%s\" of source \"%s\": "
             "each event source mapping needs a group of its own (a group's records are shared "
             "by its readers, not copied to each)",
             group, mapping, source);
    return -1;
}

/* Another mapping of the same source (of the file, or another ESM) reads it with the group
 * (slot) the candidate's mapping mc (in cfg, the file's mappings and mc) would read with: the
 * records of a group are shared by its readers, not copied. */
static int check_group(struct sl_app *app, const struct sl_config *cfg,
                       const struct sl_esm_entry *cand, const struct sl_cfg_mapping *mc,
                       struct sl_esm_error *e)
{
    const char *g = sl_readers_configured_group(cfg, mc);
    for (size_t i = 0; g && i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *o = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        const char *og = o == mc || !o->source || strcmp(o->source, mc->source) != 0
                             ? NULL
                             : sl_readers_configured_group(cfg, o);
        if (og && strcmp(og, g) == 0)
            return group_taken(e, g, o->name, mc->source);
    }
    for (size_t i = 0; g && i < app->esm->n; i++) {
        const struct sl_esm_entry *o = app->esm->v[i];
        char os[256], of[256];
        if (o->deleted || strcmp(o->uuid, cand->uuid) == 0)
            continue;
        sl_esm_doc_names(o->doc, os, sizeof(os), of, sizeof(of));
        const char *og = sl_esm_doc_group(o->doc);
        if (og && strcmp(os, mc->source) == 0 && strcmp(og, g) == 0)
            return group_taken(e, g, o->name, mc->source);
    }
    return 0;
}

/* Lambda's 409 for a second mapping of the same source and function. */
static void conflict_message(const json_t *doc, const char *uuid, struct sl_esm_error *e)
{
    char source[256], function[256];
    sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
    const char *arn = json_string_value(json_object_get(doc, "EventSourceArn"));
    e->status = 409;
    e->type = TYPE_CONFLICT;
    snprintf(e->message, sizeof(e->message),
             "The event source arn (\" %s \") and function (\" %s \") provided mapping already "
             "exists. Please update or delete the existing mapping with UUID %s",
             arn ? arn : source, json_string_value(json_object_get(doc, "FunctionName")),
             uuid ? uuid : "");
}

/* A function, source and DLQ the configuration defines; one mapping per queue source, one per
 * source and function pair (Lambda's duplicate rule), except that a stream source (kafka,
 * redis, postgres-cdc) may have several, each reading with a group of its own, and a push
 * source (http, s3, sns, schedule) several that it fans out to. `self` is the entry being
 * updated. */
static int check_refs(struct sl_app *app, const json_t *doc, const struct sl_esm_entry *self,
                      struct sl_esm_error *e)
{
    char source[256], function[256];
    sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
    const struct sl_config *cfg = &app->cfg;
    const struct sl_source_ops *ops = doc_source_ops(cfg, doc);
    bool several = ops && (ops->group_key || ops->fan_out);
    const char *arn = json_string_value(json_object_get(doc, "EventSourceArn"));
    e->status = 400;
    e->type = TYPE_INVALID;
    if (!sl_config_find(&cfg->functions, function)) {
        e->status = 404;
        e->type = TYPE_NOTFOUND;
        snprintf(e->message, sizeof(e->message), "Function not found: " FUNCTION_ARN "%s",
                 function);
        return -1;
    }
    if (!sl_config_find(&cfg->sources, source)) {
        snprintf(e->message, sizeof(e->message),
                 "The event source arn (\" %s \") names no source of this sluice: give "
                 "arn:sluice:<type>:<region>:<account>:source/<name> or the name of a source "
                 "in the configuration file",
                 json_string_value(json_object_get(doc, "EventSourceArn")));
        return -1;
    }
    struct sl_esm *esm = app->esm;
    for (size_t i = 0; i < esm->n; i++) {
        const struct sl_esm_entry *o = esm->v[i];
        char os[256], of[256];
        if (o == self || o->deleted)
            continue;
        sl_esm_doc_names(o->doc, os, sizeof(os), of, sizeof(of));
        if (strcmp(os, source) != 0)
            continue;
        if (several && strcmp(of, function) != 0)
            continue;
        e->status = 409;
        e->type = TYPE_CONFLICT;
        if (strcmp(of, function) == 0)
            conflict_message(doc, o->uuid, e);
        else
            snprintf(e->message, sizeof(e->message),
                     "The event source (\" %s \") is already read by the event source mapping "
                     "with UUID %s: a queue source allows one mapping (its rows are claimed once)",
                     source, o->uuid);
        return -1;
    }
    for (size_t i = 0; i < cfg->mappings.n; i++) {
        const struct sl_cfg_mapping *m = SL_OBJLIST_AT(cfg->mappings, struct sl_cfg_mapping, i);
        if (strncmp(m->name, "esm-", 4) == 0 && entry_find(app, m->name + 4, strlen(m->name + 4)))
            continue; /* one of ours: checked above */
        if (!m->source || strcmp(m->source, source) != 0)
            continue;
        if (m->function && strcmp(m->function, function) == 0) {
            /* Lambda's duplicate rule holds against the file's mappings too. */
            e->status = 409;
            e->type = TYPE_CONFLICT;
            snprintf(e->message, sizeof(e->message),
                     "The event source arn (\" %s \") and function (\" %s \") provided mapping "
                     "already exists: mapping \"%s\" of the configuration file",
                     arn ? arn : source, json_string_value(json_object_get(doc, "FunctionName")),
                     m->name);
            return -1;
        }
        if (!several) {
            e->status = 409;
            e->type = TYPE_CONFLICT;
            snprintf(
                e->message, sizeof(e->message),
                "The event source (\" %s \") is already read by mapping \"%s\" of the "
                "configuration file: a queue source allows one mapping (its rows are claimed once)",
                source, m->name);
            return -1;
        }
    }
    return 0;
}

/* The mapping the doc makes, checked as a reload would check it: bound by the mappings table,
 * its DLQ defined, its filters compiled. */
static int check_section(struct sl_app *app, const struct sl_esm_entry *cand,
                         struct sl_esm_error *e)
{
    struct sl_config cfg;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_config_copy(&app->cfg, &cfg, &err);
    json_t *sec = sl_esm_section(cand);
    char path[64];
    snprintf(path, sizeof(path), "event-source-mappings/%s", cand->uuid);
    if (rc == 0)
        rc = sl_config_add_mapping(&cfg, sec, path, &err);
    if (rc == 0) {
        struct sl_filter *f = NULL;
        const struct sl_cfg_mapping *mc = sl_config_mapping(&cfg, cand->name);
        rc = sl_filter_compile(mc ? mc->filters : NULL, "FilterCriteria", &f, &err);
        sl_filter_destroy(f);
        if (rc == 0 && mc)
            rc = sl_app_check_mapping(app, mc, &err);
        if (rc == 0 && mc && check_group(app, &cfg, cand, mc, e) < 0) {
            json_decref(sec);
            sl_config_release(&cfg);
            return -1;
        }
    }
    json_decref(sec);
    sl_config_release(&cfg);
    if (rc < 0) {
        e->status = 400;
        e->type = TYPE_INVALID;
        snprintf(e->message, sizeof(e->message), "%s", err.msg);
    }
    return rc;
}

static void new_uuid(char out[SL_ESM_UUID_LEN + 1])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        abort();                                  /* no randomness: nothing sensible to do */
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 (RFC 9562) */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, SL_ESM_UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
}

/* ---- writes: answered once the row is committed --------------------------------------------- */

enum op_kind { OP_CREATE, OP_UPDATE, OP_DELETE };

struct op {
    struct sl_app *app;
    struct sl_http_exchange *x;
    struct sl_esm_entry *e;
    json_t *doc; /* update: the new document */
    enum op_kind kind;
    const char *transition;
};

static void entry_remove(struct sl_app *app, struct sl_esm_entry *e)
{
    struct sl_esm *esm = app->esm;
    size_t k = 0;
    for (size_t i = 0; i < esm->n; i++) {
        if (esm->v[i] != e)
            esm->v[k++] = esm->v[i];
    }
    esm->n = k;
    sl_esm_entry_free(e);
}

static void saved_cb(int status, const char *other, void *arg)
{
    struct op *op = arg;
    struct sl_app *app = op->app;
    struct sl_esm_entry *e = op->e;
    if (status < 0) {
        /* A shared store (admin.esm_store) found what this process had not seen yet. */
        struct sl_esm_error ee;
        if (status == -EEXIST) {
            conflict_message(op->doc ? op->doc : e->doc, other, &ee);
            respond_esm_error(op->x, &ee);
        } else if (status == -ENOENT) {
            respond_error(op->x, 404, TYPE_NOTFOUND,
                          "The resource you requested does not exist (deleted meanwhile).");
        } else {
            respond_error(op->x, 500, "ServiceException",
                          "the change could not be written to the store: nothing changed");
        }
        if (op->kind == OP_CREATE)
            entry_remove(app, e);
        else
            e->transition = NULL;
    } else {
        e->saving = false;
        if (op->kind == OP_UPDATE) {
            json_decref(e->doc);
            e->doc = op->doc;
            op->doc = NULL;
        }
        if (op->kind == OP_DELETE)
            e->deleted = true;
        e->transition = op->transition;
        e->gen = ++app->esm->gen;
        respond_doc(op->x, 202, describe(app, e));
        if (app->state == SL_APP_RUNNING)
            sl_esm_changed(app);
    }
    json_decref(op->doc);
    free(op);
}

static void submit(struct op *op, const json_t *doc)
{
    op->e->transition = op->transition;
    if (sl_esm_save(op->app, op->e, doc, op->kind == OP_DELETE, saved_cb, op) < 0)
        saved_cb(SL_ECLOSED, NULL, op);
}

static bool stopping(struct sl_http_exchange *x, struct sl_app *app)
{
    if (app->state == SL_APP_RUNNING)
        return false;
    respond_error(x, 503, "ServiceException", "sluice is stopping");
    return true;
}

static void create(struct sl_http_exchange *x, const struct sl_http_req *req, struct sl_app *app)
{
    struct sl_esm_error e;
    json_t *body = body_json(x, req);
    if (!body || stopping(x, app)) {
        json_decref(body);
        return;
    }
    json_t *doc = json_object();
    int rc = sl_esm_doc_apply(doc, body, true, &e);
    json_decref(body);
    if (rc == 0 && app->esm->n >= SL_ESM_MAX)
        rc = -1, e.status = 400, e.type = TYPE_INVALID,
        snprintf(e.message, sizeof(e.message), "at most %d event source mappings", SL_ESM_MAX);
    if (rc == 0)
        rc = resolve_kafka(app, doc, &e);
    struct sl_esm_entry *en = SL_NEW(struct sl_esm_entry);
    new_uuid(en->uuid);
    /* Parameters first (400), then conflicts (409), as Lambda answers. */
    const struct sl_source_ops *sops = doc_source_ops(&app->cfg, doc);
    if (rc == 0 && sops)
        rc = sl_esm_doc_reader(doc, en->uuid, sops, &e);
    if (rc == 0)
        rc = check_refs(app, doc, NULL, &e);
    size_t nlen = strlen("esm-") + SL_ESM_UUID_LEN + 1;
    en->name = sl_malloc(nlen);
    snprintf(en->name, nlen, "esm-%s", en->uuid);
    en->doc = doc;
    en->modified_ms = sl_now_ms();
    if (rc == 0)
        rc = check_section(app, en, &e);
    if (rc < 0) {
        sl_esm_entry_free(en);
        respond_esm_error(x, &e);
        return;
    }
    en->saving = true;
    struct sl_esm *esm = app->esm;
    esm->v = sl_realloc(esm->v, (esm->n + 1) * sizeof(*esm->v));
    esm->v[esm->n++] = en;
    struct op *op = SL_NEW(struct op);
    *op = (struct op){.app = app, .x = x, .e = en, .kind = OP_CREATE, .transition = "Creating"};
    submit(op, en->doc);
}

static bool in_use(struct sl_http_exchange *x, const struct sl_esm_entry *e)
{
    if (!e->transition && !e->saving)
        return false;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "The operation cannot be performed at this time. The event source mapping is "
             "currently in %s state.",
             e->transition ? e->transition : "Creating");
    respond_error(x, 400, TYPE_IN_USE, msg);
    return true;
}

static void update(struct sl_http_exchange *x, const struct sl_http_req *req, struct sl_app *app,
                   struct sl_esm_entry *en)
{
    struct sl_esm_error e;
    json_t *body = body_json(x, req);
    if (!body || stopping(x, app) || in_use(x, en)) {
        json_decref(body);
        return;
    }
    json_t *doc = json_deep_copy(en->doc);
    int rc = sl_esm_doc_apply(doc, body, false, &e);
    if (rc == 0 && json_object_get(body, "FunctionName"))
        rc = check_refs(app, doc, en, &e);
    json_decref(body);
    if (rc == 0) {
        struct sl_esm_entry cand = *en;
        cand.doc = doc;
        rc = check_section(app, &cand, &e);
    }
    if (rc < 0) {
        json_decref(doc);
        respond_esm_error(x, &e);
        return;
    }
    bool was = !json_is_false(json_object_get(en->doc, "Enabled"));
    bool now = !json_is_false(json_object_get(doc, "Enabled"));
    struct op *op = SL_NEW(struct op);
    *op = (struct op){.app = app,
                      .x = x,
                      .e = en,
                      .doc = doc,
                      .kind = OP_UPDATE,
                      .transition = was == now ? "Updating"
                                    : now      ? "Enabling"
                                               : "Disabling"};
    en->modified_ms = sl_now_ms();
    submit(op, doc);
}

static void delete (struct sl_http_exchange *x, struct sl_app *app, struct sl_esm_entry *en)
{
    if (stopping(x, app) || in_use(x, en))
        return;
    struct op *op = SL_NEW(struct op);
    *op = (struct op){.app = app, .x = x, .e = en, .kind = OP_DELETE, .transition = "Deleting"};
    submit(op, en->doc);
}

/* ---- reads ---------------------------------------------------------------------------------- */

static void list(struct sl_http_exchange *x, const struct sl_http_req *req, struct sl_app *app)
{
    char arn[1100] = "", fn[300] = "", marker[64] = "", max[32] = "";
    bool by_arn = sl_admin_query_get(req, "EventSourceArn", arn, sizeof(arn));
    bool by_fn = sl_admin_query_get(req, "FunctionName", fn, sizeof(fn));
    bool has_marker = sl_admin_query_get(req, "Marker", marker, sizeof(marker));
    long limit = PAGE_MAX;
    if (sl_admin_query_get(req, "MaxItems", max, sizeof(max))) {
        char *end;
        limit = strtol(max, &end, 10);
        if (!*max || *end || limit < 1 || limit > 10000) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy "
                     "constraint: Member must have value between 1 and 10000",
                     max);
            respond_error(x, 400, TYPE_INVALID, msg);
            return;
        }
        if (limit > PAGE_MAX)
            limit = PAGE_MAX;
    }
    /* The names the filters stand for, as a document would give them. */
    json_t *probe = json_pack("{s:s, s:s}", "EventSourceArn", arn, "FunctionName", fn);
    char want_src[256], want_fn[256];
    sl_esm_doc_names(probe, want_src, sizeof(want_src), want_fn, sizeof(want_fn));
    json_decref(probe);
    struct sl_esm *esm = app->esm;
    size_t start = 0;
    if (has_marker) {
        struct sl_esm_entry *m = entry_find(app, marker, strlen(marker));
        if (!m) {
            respond_error(x, 400, TYPE_INVALID, "Invalid Marker: it is no NextMarker of a list");
            return;
        }
        while (esm->v[start] != m)
            start++;
        start++;
    }
    json_t *items = json_array();
    const char *next = NULL;
    for (size_t i = start; i < esm->n; i++) {
        const struct sl_esm_entry *e = esm->v[i];
        char s[256], f[256];
        sl_esm_doc_names(e->doc, s, sizeof(s), f, sizeof(f));
        if ((by_arn && strcmp(s, want_src) != 0) || (by_fn && strcmp(f, want_fn) != 0))
            continue;
        if ((long)json_array_size(items) == limit) {
            next = esm->v[i - 1]->uuid; /* more match: the page ends before this one */
            break;
        }
        json_array_append_new(items, describe(app, e));
    }
    json_t *out = json_pack("{s:o}", "EventSourceMappings", items);
    if (next) {
        /* The marker is the last UUID returned: find it again among what was returned. */
        json_t *last = json_array_get(items, json_array_size(items) - 1);
        json_object_set(out, "NextMarker", json_object_get(last, "UUID"));
    }
    respond_doc(x, 200, out);
}

/* ---- routing -------------------------------------------------------------------------------- */

/* SigV4 when keys are configured, else the admin token as on every admin route. */
static bool authorized(struct sl_http_exchange *x, const struct sl_http_req *req,
                       struct sl_app *app)
{
    struct sl_esm_error e;
    if (app->cfg.admin.aws_credentials.n > 0) {
        if (sl_esm_sigv4_check(app, req, &e) == 0)
            return true;
        respond_esm_error(x, &e);
        return false;
    }
    if (sl_admin_authorized(app, req))
        return true;
    respond_error(x, 401, "UnrecognizedClientException", "missing or wrong admin token");
    return false;
}

static void esm_cb(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    struct sl_app *app = arg;
    if (!authorized(x, req, app))
        return;
    const char *rest = req->path + strlen(PREFIX);
    size_t rlen = req->path_len - strlen(PREFIX);
    if (rlen > 0 && *rest == '/') {
        rest++;
        rlen--;
    }
    if (rlen == 0) {
        if (strcmp(req->method, "POST") == 0)
            create(x, req, app);
        else if (strcmp(req->method, "GET") == 0)
            list(x, req, app);
        else
            respond_error(x, 405, TYPE_INVALID, "use GET (list) or POST (create)");
        return;
    }
    struct sl_esm_entry *e = entry_find(app, rest, rlen);
    if (!e) {
        char msg[160];
        snprintf(msg, sizeof(msg), "The resource you requested does not exist. (UUID %.*s)",
                 (int)(rlen > 64 ? 64 : rlen), rest);
        respond_error(x, 404, TYPE_NOTFOUND, msg);
        return;
    }
    if (strcmp(req->method, "GET") == 0)
        respond_doc(x, 200, describe(app, e));
    else if (strcmp(req->method, "PUT") == 0)
        update(x, req, app, e);
    else if (strcmp(req->method, "DELETE") == 0)
        delete (x, app, e);
    else
        respond_error(x, 405, TYPE_INVALID, "use GET, PUT or DELETE");
}

void sl_esm_routes(struct sl_app *app, struct sl_http_router *r)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        /* Guarded in esm_cb: by SigV4 or by the token. */
        sl_admin_add(app, r, methods[i], PREFIX, false, esm_cb, false);
        sl_admin_add(app, r, methods[i], PREFIX "/", true, esm_cb, false);
    }
}
