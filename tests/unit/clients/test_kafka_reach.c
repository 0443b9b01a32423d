/* sl_kafka_stats_reach over statistics documents shaped like librdkafka's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "clients/kafka/reach.h"

static enum sl_kafka_reach reach(const char *json, char *why, size_t n)
{
    return sl_kafka_stats_reach(json, strlen(json), why, n);
}

/* One broker entry: "name":{"nodeid":id,"source":src,"state":state}. */
#define B(name, id, src, state)                                                                    \
    "\"" name "\":{\"nodeid\":" #id ",\"source\":\"" src "\",\"state\":\"" state "\"}"
#define COORD    B("GroupCoordinator", -1, "logical", "UP")
#define INTERNAL B(":0/internal", -1, "internal", "UP")

static void test_one_broker_up_is_up(void **state)
{
    char why[128] = "x";
    assert_int_equal(
        reach("{\"name\":\"c\",\"brokers\":{" INTERNAL
              "," B("h:1/1", 1, "learned", "DOWN") "," B("h:2/2", 2, "learned", "UP") "}}",
              why, sizeof(why)),
        SL_KAFKA_REACH_UP);
    assert_string_equal(why, "");
    /* A bootstrap address that is connected counts too. */
    assert_int_equal(reach("{\"brokers\":{" B("h:9092/bootstrap", -1, "configured", "UP") "}}", why,
                           sizeof(why)),
                     SL_KAFKA_REACH_UP);
}

static void test_all_tried_brokers_down_names_them(void **state)
{
    char why[128];
    assert_int_equal(
        reach("{\"brokers\":{" INTERNAL "," B("h:1/1", 1, "learned", "DOWN") "," B(
                  "h:2/2", 2, "learned", "CONNECT") "," B("h:3/3", 3, "learned", "INIT") "}}",
              why, sizeof(why)),
        SL_KAFKA_REACH_DOWN);
    assert_string_equal(why, "no broker connected: h:1/1 DOWN, h:2/2 CONNECT");
    /* Bootstrap addresses that never answered: down. */
    assert_int_equal(reach("{\"brokers\":{" INTERNAL
                           "," B("h:9092/bootstrap", -1, "configured", "TRY_CONNECT") "}}",
                           why, sizeof(why)),
                     SL_KAFKA_REACH_DOWN);
}

static void test_the_internal_broker_does_not_count(void **state)
{
    char why[64];
    assert_int_equal(reach("{\"brokers\":{" INTERNAL "}}", why, sizeof(why)),
                     SL_KAFKA_REACH_UNKNOWN);
    /* After a disconnect the idle brokers rest in INIT: the coordinator trying is what shows. */
    assert_int_equal(reach("{\"brokers\":{" INTERNAL
                           "," B("GroupCoordinator", -1, "logical",
                                 "TRY_CONNECT") "," B("h:1/1", 1, "configured", "INIT") "}}",
                           why, sizeof(why)),
                     SL_KAFKA_REACH_DOWN);
    assert_int_equal(reach("{\"brokers\":{" COORD "," B("h:1/1", 1, "configured", "INIT") "}}", why,
                           sizeof(why)),
                     SL_KAFKA_REACH_UP);
}

static void test_never_tried_or_garbage_is_unknown(void **state)
{
    char why[8]; /* too short for the reason: cut, never overrun */
    assert_int_equal(
        reach("{\"brokers\":{" B("h:1/1", 1, "learned", "INIT") "}}", why, sizeof(why)),
        SL_KAFKA_REACH_UNKNOWN);
    assert_int_equal(reach("not json", why, sizeof(why)), SL_KAFKA_REACH_UNKNOWN);
    assert_int_equal(reach("{\"brokers\":[]}", why, sizeof(why)), SL_KAFKA_REACH_UNKNOWN);
    assert_int_equal(reach("{\"brokers\":{\"a\":{\"source\":\"learned\",\"state\":7},"
                           "\"b\":{\"state\":\"DOWN\"}}}",
                           why, sizeof(why)),
                     SL_KAFKA_REACH_UNKNOWN);
    assert_int_equal(reach("{\"brokers\":{" B("h:1/1", 1, "learned",
                                              "DOWN") "," B("h:2/2", 2, "learned", "DOWN") "}}",
                           why, sizeof(why)),
                     SL_KAFKA_REACH_DOWN);
    assert_true(strlen(why) < sizeof(why));
}

static void test_the_state_is_kept_while_every_broker_is_idle(void **state)
{
    struct sl_kafka_reachability r = {0};
    const char *down = "{\"brokers\":{" B("h:1/1", 1, "learned", "DOWN") "}}";
    const char *idle = "{\"brokers\":{" B("h:1/1", 1, "learned", "INIT") "}}";
    const char *up = "{\"brokers\":{" B("h:1/1", 1, "learned", "UP") "}}";
    char why[64];
    assert_true(sl_kafka_reach_ready(&r, why, sizeof(why))); /* nothing known: ready */
    assert_int_equal(sl_kafka_reach_stats(&r, down, strlen(down)), SL_KAFKA_REACH_UNKNOWN);
    assert_false(sl_kafka_reach_ready(&r, why, sizeof(why)));
    assert_string_equal(why, "no broker connected: h:1/1 DOWN");
    /* Idle brokers after a disconnect say nothing new: still down. */
    assert_int_equal(sl_kafka_reach_stats(&r, idle, strlen(idle)), SL_KAFKA_REACH_DOWN);
    assert_false(sl_kafka_reach_ready(&r, why, sizeof(why)));
    assert_int_equal(sl_kafka_reach_stats(&r, up, strlen(up)), SL_KAFKA_REACH_DOWN);
    assert_true(sl_kafka_reach_ready(&r, why, sizeof(why)));
    /* The all-brokers-down event says down until a document shows a broker connected. */
    sl_kafka_reach_down(&r, "3/3 brokers are down");
    assert_int_equal(sl_kafka_reach_stats(&r, idle, strlen(idle)), SL_KAFKA_REACH_DOWN);
    assert_false(sl_kafka_reach_ready(&r, why, sizeof(why)));
    assert_string_equal(why, "3/3 brokers are down");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_broker_up_is_up),
        cmocka_unit_test(test_all_tried_brokers_down_names_them),
        cmocka_unit_test(test_the_internal_broker_does_not_count),
        cmocka_unit_test(test_never_tried_or_garbage_is_unknown),
        cmocka_unit_test(test_the_state_is_kept_while_every_broker_is_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
