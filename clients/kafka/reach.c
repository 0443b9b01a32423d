#include "clients/kafka/reach.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

enum sl_kafka_reach sl_kafka_stats_reach(const char *json, size_t len, char *why, size_t n)
{
    if (n > 0)
        why[0] = '\0';
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = json_object_get(root, "brokers");
    if (!json_is_object(brokers)) {
        json_decref(root);
        return SL_KAFKA_REACH_UNKNOWN;
    }
    int up = 0, tried = 0;
    size_t used = 0;
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));
        const char *src = json_string_value(json_object_get(b, "source"));
        if (!state || !src || strcmp(src, "internal") == 0)
            continue; /* librdkafka's internal broker (the coordinator's alias counts) */
        if (strcmp(state, "UP") == 0) {
            up++;
            continue;
        }
        if (strcmp(state, "INIT") == 0)
            continue; /* never needed, never tried */
        tried++;
        if (n > 0 && used < n) {
            int w = snprintf(why + used, n - used, "%s%s %s",
                             used ? ", " : "no broker connected: ", name, state);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    json_decref(root);
    if (up > 0) {
        if (n > 0)
            why[0] = '\0';
        return SL_KAFKA_REACH_UP;
    }
    return tried > 0 ? SL_KAFKA_REACH_DOWN : SL_KAFKA_REACH_UNKNOWN;
}

enum sl_kafka_reach sl_kafka_reach_stats(struct sl_kafka_reachability *r, const char *json,
                                         size_t len)
{
    char why[sizeof(r->why)];
    enum sl_kafka_reach was = r->state;
    enum sl_kafka_reach now = sl_kafka_stats_reach(json, len, why, sizeof(why));
    if (now == SL_KAFKA_REACH_DOWN)
        memcpy(r->why, why, sizeof(why));
    if (now != SL_KAFKA_REACH_UNKNOWN)
        r->state = now;
    return was;
}

void sl_kafka_reach_down(struct sl_kafka_reachability *r, const char *reason)
{
    r->state = SL_KAFKA_REACH_DOWN;
    snprintf(r->why, sizeof(r->why), "%s", reason);
}

bool sl_kafka_reach_ready(const struct sl_kafka_reachability *r, char *why, size_t n)
{
    if (r->state != SL_KAFKA_REACH_DOWN)
        return true;
    snprintf(why, n, "%s", r->why);
    return false;
}
