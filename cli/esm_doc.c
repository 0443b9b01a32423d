/* The Lambda event-source-mapping document and the sluice mapping it stands for (cli/esm.h).
 * Field names, ranges and defaults follow the AWS Lambda API reference
 * (CreateEventSourceMapping, UpdateEventSourceMapping); docs/ESM_API.md says how each maps. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/esm.h"
#include "sources/source.h"

/* Every field a Create takes; `update` when an Update takes it too. */
struct field {
    const char *name;
    const char *member; /* the member name Lambda's validation messages use */
    bool update;
};

static const struct field fields[] = {
    {"EventSourceArn", "eventSourceArn", false},
    {"FunctionName", "functionName", true},
    {"Enabled", "enabled", true},
    {"BatchSize", "batchSize", true},
    {"MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", true},
    {"MaximumRetryAttempts", "maximumRetryAttempts", true},
    {"MaximumRecordAgeInSeconds", "maximumRecordAgeInSeconds", true},
    {"BisectBatchOnFunctionError", "bisectBatchOnFunctionError", true},
    {"FunctionResponseTypes", "functionResponseTypes", true},
    {"FilterCriteria", "filterCriteria", true},
    {"DestinationConfig", "destinationConfig", true},
    {"ScalingConfig", "scalingConfig", true},
    {"StartingPosition", "startingPosition", false},
    {"StartingPositionTimestamp", "startingPositionTimestamp", false},
    {"Topics", "topics", false},
    {"SelfManagedEventSource", "selfManagedEventSource", false},
    {"SelfManagedKafkaEventSourceConfig", "selfManagedKafkaEventSourceConfig", false},
    {"AmazonManagedKafkaEventSourceConfig", "amazonManagedKafkaEventSourceConfig", false},
};

/* Create-only fields Lambda names that sluice does not take at all. */
static const char *const create_only[] = {"Queues", "Tags"};

/* What the server adds to a document (never taken from a request, never shown): the source a
 * SelfManagedEventSource resolved to, and the mapping's reader (its `reader` keys). */
#define DOC_SOURCE "SluiceSource"
#define DOC_READER "SluiceReader"

int sl_esm_invalid(struct sl_esm_error *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->status = 400;
    e->type = "InvalidParameterValueException";
    return -1;
}

/* Lambda's wording for a value out of its range (the API's request validation). */
static int out_of_range(struct sl_esm_error *e, const struct field *f, json_t *v, long long lo,
                        long long hi)
{
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : 0;
    if (n < lo)
        return sl_esm_invalid(e,
                              "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                              "constraint: Member must have value greater than or equal to %lld",
                              n, f->member, lo);
    return sl_esm_invalid(e,
                          "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                          "constraint: Member must have value less than or equal to %lld",
                          n, f->member, hi);
}

static int check_int(struct sl_esm_error *e, const struct field *f, json_t *v, long long lo,
                     long long hi)
{
    if (!json_is_integer(v))
        return sl_esm_invalid(e, "%s must be an integer", f->name);
    long long n = (long long)json_integer_value(v);
    return n < lo || n > hi ? out_of_range(e, f, v, lo, hi) : 0;
}

static int check_string(struct sl_esm_error *e, const struct field *f, json_t *v, size_t max)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return sl_esm_invalid(e, "%s must be a non-empty string", f->name);
    if (json_string_length(v) > max)
        return sl_esm_invalid(e,
                              "1 validation error detected: Value at '%s' failed to satisfy "
                              "constraint: Member must have length less than or equal to %zu",
                              f->member, max);
    return 0;
}

/* FilterCriteria: {"Filters":[{"Pattern":"<JSON text>"}]}, at most 10 (Lambda's quota). */
static int check_filters(struct sl_esm_error *e, json_t *v)
{
    json_t *filters = json_is_object(v) ? json_object_get(v, "Filters") : NULL;
    if (!json_is_object(v) || (filters && !json_is_array(filters)))
        return sl_esm_invalid(e, "FilterCriteria must be {\"Filters\":[{\"Pattern\":\"...\"}]}");
    if (json_array_size(filters) > 10)
        return sl_esm_invalid(e, "FilterCriteria: at most 10 filters (%zu given)",
                              json_array_size(filters));
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        json_t *p = json_object_get(f, "Pattern");
        if (!json_is_string(p) || json_string_length(p) > 4096)
            return sl_esm_invalid(e,
                                  "FilterCriteria.Filters[%zu].Pattern must be a string of at most "
                                  "4096 characters (a JSON filter pattern)",
                                  i);
    }
    return 0;
}

static int check_field(struct sl_esm_error *e, const struct field *f, json_t *v)
{
    const char *n = f->name;
    if (strcmp(n, "EventSourceArn") == 0)
        return check_string(e, f, v, 1024);
    if (strcmp(n, "FunctionName") == 0)
        return check_string(e, f, v, 140);
    if (strcmp(n, "Enabled") == 0 || strcmp(n, "BisectBatchOnFunctionError") == 0)
        return json_is_boolean(v) ? 0 : sl_esm_invalid(e, "%s must be true or false", n);
    if (strcmp(n, "BatchSize") == 0)
        return check_int(e, f, v, 1, 10000);
    if (strcmp(n, "MaximumBatchingWindowInSeconds") == 0)
        return check_int(e, f, v, 0, 300);
    if (strcmp(n, "MaximumRetryAttempts") == 0)
        return check_int(e, f, v, -1, 10000);
    if (strcmp(n, "MaximumRecordAgeInSeconds") == 0) {
        int rc = check_int(e, f, v, -1, 604800);
        if (rc == 0 && json_integer_value(v) >= 0 && json_integer_value(v) < 60)
            return out_of_range(e, f, v, 60, 604800);
        return rc;
    }
    if (strcmp(n, "FunctionResponseTypes") == 0) {
        if (!json_is_array(v) || json_array_size(v) > 1)
            return sl_esm_invalid(
                e, "FunctionResponseTypes must be [] or [\"ReportBatchItemFailures\"]");
        json_t *t = json_array_get(v, 0);
        if (t && (!json_is_string(t) || strcmp(json_string_value(t), "ReportBatchItemFailures")))
            return sl_esm_invalid(
                e, "FunctionResponseTypes must be [] or [\"ReportBatchItemFailures\"]");
        return 0;
    }
    if (strcmp(n, "FilterCriteria") == 0)
        return check_filters(e, v);
    if (strcmp(n, "DestinationConfig") == 0) {
        json_t *on = json_is_object(v) ? json_object_get(v, "OnFailure") : NULL;
        json_t *dest = json_is_object(on) ? json_object_get(on, "Destination") : NULL;
        if (!json_is_object(v) || json_object_get(v, "OnSuccess") || (on && !json_is_object(on)) ||
            (dest && !json_is_string(dest)) ||
            (dest && (json_string_length(dest) == 0 || json_string_length(dest) > 350)))
            return sl_esm_invalid(
                e, "DestinationConfig must be {\"OnFailure\":{\"Destination\":\"<dlq "
                   "name or arn:sluice:dlq:<region>:<account>:<name>>\"}} (OnSuccess "
                   "is not supported)");
        return 0;
    }
    if (strcmp(n, "ScalingConfig") == 0) {
        json_t *mc = json_is_object(v) ? json_object_get(v, "MaximumConcurrency") : NULL;
        if (!json_is_object(v))
            return sl_esm_invalid(e, "ScalingConfig must be {\"MaximumConcurrency\": 2..1000}");
        static const struct field mcf = {"MaximumConcurrency", "scalingConfig.maximumConcurrency",
                                         true};
        return mc ? check_int(e, &mcf, mc, 2, 1000) : 0;
    }
    if (strcmp(n, "StartingPosition") == 0) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "LATEST") && strcmp(s, "TRIM_HORIZON") && strcmp(s, "AT_TIMESTAMP")))
            return sl_esm_invalid(e,
                                  "StartingPosition must be LATEST, TRIM_HORIZON or AT_TIMESTAMP");
        return 0;
    }
    if (strcmp(n, "StartingPositionTimestamp") == 0)
        return json_is_number(v) && json_number_value(v) >= 0
                   ? 0
                   : sl_esm_invalid(
                         e, "StartingPositionTimestamp must be a number of seconds since the "
                            "epoch");
    if (strcmp(n, "Topics") == 0) {
        /* Lambda: one topic, 1 to 249 characters. */
        json_t *t = json_array_get(v, 0);
        if (!json_is_array(v) || json_array_size(v) != 1 || !json_is_string(t) ||
            json_string_length(t) == 0 || json_string_length(t) > 249)
            return sl_esm_invalid(e,
                                  "Topics must be a list of one topic name (1 to 249 characters)");
        return 0;
    }
    if (strcmp(n, "SelfManagedEventSource") == 0) {
        json_t *servers =
            json_object_get(json_object_get(v, "Endpoints"), "KAFKA_BOOTSTRAP_SERVERS");
        bool ok = json_is_array(servers) && json_array_size(servers) >= 1 &&
                  json_array_size(servers) <= 10;
        size_t i;
        json_t *h;
        json_array_foreach(servers, i, h) ok =
            ok && json_is_string(h) && json_string_length(h) > 0 && json_string_length(h) <= 300;
        return ok ? 0
                  : sl_esm_invalid(e,
                                   "SelfManagedEventSource must be {\"Endpoints\": "
                                   "{\"KAFKA_BOOTSTRAP_SERVERS\": [\"host:port\", ...]}} with 1 to "
                                   "10 servers");
    }
    if (strcmp(n, "SelfManagedKafkaEventSourceConfig") == 0 ||
        strcmp(n, "AmazonManagedKafkaEventSourceConfig") == 0) {
        json_t *g = json_object_get(v, "ConsumerGroupId");
        if (!json_is_object(v) || (g && (!json_is_string(g) || json_string_length(g) == 0 ||
                                         json_string_length(g) > 200)))
            return sl_esm_invalid(e, "%s must be {\"ConsumerGroupId\": \"<1 to 200 characters>\"}",
                                  n);
        return 0;
    }
    return 0;
}

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    }
    return NULL;
}

int sl_esm_doc_apply(json_t *doc, json_t *body, bool create, struct sl_esm_error *e)
{
    if (!json_is_object(body))
        return sl_esm_invalid(e, "the request body must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        const struct field *f = find_field(key);
        if (f && !create && !f->update)
            return sl_esm_invalid(e,
                                  "%s cannot be updated: it is set when the event source mapping "
                                  "is created (delete it and create another)",
                                  key);
        for (size_t i = 0; !f && i < sizeof(create_only) / sizeof(create_only[0]); i++) {
            if (strcmp(key, create_only[i]) == 0)
                return create
                           ? sl_esm_invalid(e,
                                            "%s is not supported by sluice: a source and what it "
                                            "reads are set in the configuration file; name that "
                                            "source in EventSourceArn",
                                            key)
                           : sl_esm_invalid(e,
                                            "%s cannot be updated: it is set when the event source "
                                            "mapping is created",
                                            key);
        }
        if (!f)
            return sl_esm_invalid(e, "%s is not a field sluice supports (see docs/ESM_API.md)",
                                  key);
        if (json_is_null(v))
            continue;
        if (check_field(e, f, v) < 0)
            return -1;
    }
    if (create) {
        bool arn = json_is_string(json_object_get(body, "EventSourceArn"));
        bool self_managed = json_is_object(json_object_get(body, "SelfManagedEventSource"));
        if (!arn && !self_managed)
            return sl_esm_invalid(e,
                                  "EventSourceArn is required: the ARN of a sluice source, "
                                  "arn:sluice:<type>:<region>:<account>:source/<name>, or its name "
                                  "(or, for a Kafka source, SelfManagedEventSource and Topics)");
        if (arn && self_managed)
            return sl_esm_invalid(e,
                                  "EventSourceArn and SelfManagedEventSource cannot both be given: "
                                  "name the source one way");
        if (self_managed && !json_is_array(json_object_get(body, "Topics")))
            return sl_esm_invalid(e, "Topics is required with SelfManagedEventSource: the topic to "
                                     "read");
        if (!json_is_string(json_object_get(body, "FunctionName")))
            return sl_esm_invalid(e, "FunctionName is required: a sluice function's name or ARN");
        /* Lambda's defaults for streams, except MaximumRetryAttempts: sluice's default of 3
         * attempts (retry.max_attempts) rather than retrying until the record expires. */
        json_object_set_new(doc, "Enabled", json_true());
        json_object_set_new(doc, "BatchSize", json_integer(100));
        json_object_set_new(doc, "MaximumBatchingWindowInSeconds", json_integer(0));
        json_object_set_new(doc, "MaximumRetryAttempts", json_integer(2));
        json_object_set_new(doc, "MaximumRecordAgeInSeconds", json_integer(-1));
        json_object_set_new(doc, "BisectBatchOnFunctionError", json_false());
        json_object_set_new(doc, "FunctionResponseTypes", json_array());
    }
    json_object_foreach(body, key, v)
    {
        if (json_is_null(v))
            json_object_del(doc, key);
        else
            json_object_set(doc, key, v);
    }
    return 0;
}

/* The last part of an ARN after `marker`, or of the whole string when it is no ARN. */
static void arn_name(const char *s, const char *marker, char *out, size_t cap)
{
    const char *p = s;
    if (s && strncmp(s, "arn:", 4) == 0) {
        const char *m = marker ? strstr(s, marker) : NULL;
        if (m) {
            p = m + strlen(marker);
        } else {
            const char *c = strrchr(s, ':'), *sl = strrchr(s, '/');
            p = (sl && sl > c ? sl : c) + 1;
        }
    }
    snprintf(out, cap, "%s", p ? p : "");
    /* A function qualifier (":live") is not a sluice function's. */
    if (marker && strcmp(marker, ":function:") == 0) {
        char *q = strchr(out, ':');
        if (q)
            *q = '\0';
    }
}

void sl_esm_doc_names(const json_t *doc, char *source, size_t scap, char *function, size_t fcap)
{
    json_t *arn = json_object_get(doc, "EventSourceArn");
    if (arn)
        arn_name(json_string_value(arn), ":source/", source, scap);
    else
        snprintf(source, scap, "%s", json_string_value(json_object_get(doc, DOC_SOURCE)));
    arn_name(json_string_value(json_object_get(doc, "FunctionName")), ":function:", function, fcap);
}

void sl_esm_doc_set_source(json_t *doc, const char *name)
{
    json_object_set_new(doc, DOC_SOURCE, json_string(name));
}

/* Whether a table (its inlined tables too) has a key of this name. */
static bool table_has_key(const struct sl_prop_table *t, const char *key)
{
    for (size_t i = 0; t && i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE ? table_has_key(p->sub, key)
                                      : p->name && strcmp(p->name, key) == 0)
            return true;
    }
    return false;
}

/* The starting position of the reader: Lambda's StartingPosition as the source's
 * starting_position (TRIM_HORIZON: earliest, LATEST: latest, AT_TIMESTAMP: at), the timestamp
 * (seconds since the epoch) as an RFC 3339 time, rounded down to the second (so nothing at
 * that time is skipped). */
static int reader_position(json_t *reader, const char *type, bool has_position, const char *sp,
                           json_t *ts, struct sl_esm_error *e)
{
    bool at = strcmp(sp, "AT_TIMESTAMP") == 0;
    if (!has_position) {
        /* A new slot starts where it is made, as a DynamoDB stream is read from LATEST or
         * TRIM_HORIZON only. */
        return at ? sl_esm_invalid(
                        e,
                        "StartingPosition AT_TIMESTAMP is not supported for %s event "
                        "sources: TRIM_HORIZON or LATEST (a new reader starts where it is "
                        "made)",
                        type)
                  : 0;
    }
    json_object_set_new(reader, "starting_position",
                        json_string(at                                ? "at"
                                    : strcmp(sp, "TRIM_HORIZON") == 0 ? "earliest"
                                                                      : "latest"));
    if (at) {
        time_t t = (time_t)json_number_value(ts);
        struct tm tm;
        char text[32];
        gmtime_r(&t, &tm);
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(reader, "starting_timestamp", json_string(text));
    }
    return 0;
}

int sl_esm_doc_reader(json_t *doc, const char *uuid, const struct sl_source_ops *ops,
                      struct sl_esm_error *e)
{
    const char *sp = json_string_value(json_object_get(doc, "StartingPosition"));
    json_t *ts = json_object_get(doc, "StartingPositionTimestamp");
    bool kafka = strcmp(ops->type, "kafka") == 0;
    json_t *kconf = json_object_get(doc, "SelfManagedKafkaEventSourceConfig");
    if (!kconf)
        kconf = json_object_get(doc, "AmazonManagedKafkaEventSourceConfig");
    if (ts && (!sp || strcmp(sp, "AT_TIMESTAMP") != 0))
        return sl_esm_invalid(e, "StartingPositionTimestamp is only valid with StartingPosition "
                                 "AT_TIMESTAMP");
    if (kconf && !kafka)
        return sl_esm_invalid(e,
                              "a Kafka consumer group (ConsumerGroupId) is only valid for a Kafka "
                              "event source, not %s",
                              ops->type);
    if (!ops->group_key)
        return sp ? sl_esm_invalid(e, "StartingPosition is not valid for %s event sources.",
                                   ops->type)
                  : 0;
    if (!sp)
        return sl_esm_invalid(e,
                              "StartingPosition is required for %s event sources (a stream): "
                              "TRIM_HORIZON, LATEST or AT_TIMESTAMP",
                              ops->type);
    if (strcmp(sp, "AT_TIMESTAMP") == 0 && !ts)
        return sl_esm_invalid(e, "StartingPositionTimestamp is required with StartingPosition "
                                 "AT_TIMESTAMP");
    /* Lambda reads self-managed Kafka with the ConsumerGroupId given, else with the ESM's UUID
     * as the consumer group; the other stream types get a group (slot) per ESM too, named
     * for the UUID in the characters a slot name allows. */
    char group[64];
    const char *given = json_string_value(json_object_get(kconf, "ConsumerGroupId"));
    if (given)
        snprintf(group, sizeof(group), "%s", given);
    else if (kafka)
        snprintf(group, sizeof(group), "%s", uuid);
    else {
        snprintf(group, sizeof(group), "esm_%s", uuid);
        for (char *c = group; *c; c++)
            *c = *c == '-' ? '_' : *c;
    }
    json_t *reader = json_pack("{s:s}", "group", given ? given : group);
    if (reader_position(reader, ops->type, table_has_key(ops->props, "starting_position"), sp, ts,
                        e) < 0) {
        json_decref(reader);
        return -1;
    }
    json_object_set_new(doc, DOC_READER, reader);
    return 0;
}

const char *sl_esm_doc_group(const json_t *doc)
{
    return json_string_value(json_object_get(json_object_get(doc, DOC_READER), "group"));
}

static const char *dlq_name(const json_t *doc, char *out, size_t cap)
{
    json_t *d = json_object_get(
        json_object_get(json_object_get(doc, "DestinationConfig"), "OnFailure"), "Destination");
    if (!json_is_string(d))
        return NULL;
    arn_name(json_string_value(d), NULL, out, cap);
    return out;
}

json_t *sl_esm_section(const struct sl_esm_entry *e)
{
    const json_t *doc = e->doc;
    char source[256], function[256], dlq[256];
    sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
    json_int_t retries = json_integer_value(json_object_get(doc, "MaximumRetryAttempts"));
    json_int_t age = json_integer_value(json_object_get(doc, "MaximumRecordAgeInSeconds"));
    json_t *types = json_object_get(doc, "FunctionResponseTypes");
    char window[32], agetext[32];
    snprintf(window, sizeof(window), "%llds",
             (long long)json_integer_value(json_object_get(doc, "MaximumBatchingWindowInSeconds")));
    snprintf(agetext, sizeof(agetext), "%llds", (long long)(age > 0 ? age : 0));
    json_t *retry = json_pack("{s:I, s:s, s:b, s:b}", "max_attempts",
                              (json_int_t)(retries < 0 ? 10000 : retries + 1), "max_record_age",
                              agetext, "bisect_on_error",
                              json_is_true(json_object_get(doc, "BisectBatchOnFunctionError")),
                              "report_batch_item_failures", json_array_size(types) > 0);
    json_t *sec = json_pack(
        "{s:s, s:s, s:s, s:b, s:{s:I, s:s}, s:o}", "name", e->name, "source", source, "function",
        function, "enabled", !json_is_false(json_object_get(doc, "Enabled")), "batch", "size",
        json_integer_value(json_object_get(doc, "BatchSize")), "window", window, "retry", retry);
    if (dlq_name(doc, dlq, sizeof(dlq)))
        json_object_set_new(sec, "dlq", json_string(dlq));
    json_t *mc = json_object_get(json_object_get(doc, "ScalingConfig"), "MaximumConcurrency");
    if (json_is_integer(mc))
        json_object_set(sec, "max_concurrency", mc);
    json_t *reader = json_object_get(doc, DOC_READER);
    if (json_object_size(reader) > 0)
        json_object_set_new(sec, "reader", json_deep_copy(reader));
    json_t *filters = json_object_get(json_object_get(doc, "FilterCriteria"), "Filters");
    if (json_array_size(filters) > 0) {
        json_t *patterns = json_array();
        size_t i;
        json_t *f;
        json_array_foreach(filters, i, f)
            json_array_append(patterns, json_object_get(f, "Pattern"));
        json_object_set_new(sec, "filters", patterns);
    }
    return sec;
}

json_t *sl_esm_describe(const struct sl_esm_entry *e, const char *state, const char *reason,
                        const char *last_result)
{
    const json_t *doc = e->doc;
    char source[256], function[256], arn[512];
    sl_esm_doc_names(doc, source, sizeof(source), function, sizeof(function));
    json_t *out = json_object();
    json_object_set_new(out, "UUID", json_string(e->uuid));
    snprintf(arn, sizeof(arn), "arn:sluice:lambda:local:000000000000:event-source-mapping:%s",
             e->uuid);
    json_object_set_new(out, "EventSourceMappingArn", json_string(arn));
    static const char *const copied[] = {
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "EventSourceArn",
        "FilterCriteria",
        "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "FunctionResponseTypes",
        "ScalingConfig",
        "StartingPosition",
        "StartingPositionTimestamp",
        "Topics",
        "SelfManagedEventSource",
        "SelfManagedKafkaEventSourceConfig",
        "AmazonManagedKafkaEventSourceConfig",
    };
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        json_t *v = json_object_get(doc, copied[i]);
        if (v)
            json_object_set(out, copied[i], v);
    }
    snprintf(arn, sizeof(arn), "arn:sluice:lambda:local:000000000000:function:%s", function);
    json_object_set_new(out, "FunctionArn", json_string(arn));
    json_object_set_new(out, "LastModified", json_real((double)e->modified_ms / 1000.0));
    json_object_set_new(out, "LastProcessingResult", json_string(last_result));
    json_object_set_new(out, "State", json_string(state));
    json_object_set_new(out, "StateTransitionReason", json_string(reason));
    json_t *dc = json_object_get(doc, "DestinationConfig");
    json_object_set_new(out, "DestinationConfig",
                        dc ? json_deep_copy(dc) : json_pack("{s:{}}", "OnFailure"));
    return out;
}
