/* The "postgres" DLQ sink's table name (what is accepted, the error for what is not) and the
 * statements built for it (quoted identifiers, index names in the table's schema). The sink's
 * I/O is tested against a real PostgreSQL in tests/integration/test_pg_dlq.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dlq/dlq.h"
#include "dlq/postgres/postgres.h"
#include "dlq/postgres/postgres_int.h"

static void test_table_names_accepted(void **state)
{
    const char *good[] = {
        "sluice_dlq",   "ops.sluice_dlq",
        "Dead_Letters", "_x",
        "a1.b2",        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefgh" /* 48 */};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct sl_err err = {0};
        assert_int_equal(sl_pgdlq_table_check(good[i], "f.yaml", "dlqs[0]", &err), 0);
    }
}

static void test_table_names_refused(void **state)
{
    const char *bad[] = {"",
                         "a.b.c",
                         "1abc",
                         "a-b",
                         "x;drop table y",
                         "x\"y",
                         ".x",
                         "x.",
                         "ab cd",
                         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi" /* 49 */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_err err = {0};
        assert_int_equal(sl_pgdlq_table_check(bad[i], "f.yaml", "dlqs[0]", &err), SL_ECONFIG);
        assert_non_null(strstr(err.msg, "f.yaml: dlqs[0].table: \""));
        assert_non_null(strstr(err.msg, "allowed: name or schema.name"));
    }
    struct sl_err err = {0};
    assert_int_equal(sl_pgdlq_table_check(NULL, "f.yaml", "dlqs[0]", &err), SL_ECONFIG);
}

static void test_statements_quote_the_table(void **state)
{
    struct pgdlq_sql s;
    sl_pgdlq_sql_build("ops.Dead_Letters", &s);
    assert_string_equal(s.table, "\"ops\".\"Dead_Letters\"");
    assert_non_null(strstr(s.schema, "CREATE TABLE IF NOT EXISTS \"ops\".\"Dead_Letters\" ("));
    /* An index lives in its table's schema: its name is not qualified. */
    assert_non_null(strstr(s.schema, "CREATE INDEX IF NOT EXISTS \"Dead_Letters_by_mapping\" ON "
                                     "\"ops\".\"Dead_Letters\" (mapping, created_at, seq)"));
    assert_non_null(strstr(s.schema, "\"Dead_Letters_by_record\" ON \"ops\".\"Dead_Letters\""));
    assert_ptr_equal(strstr(s.insert, "INSERT INTO \"ops\".\"Dead_Letters\" ("), s.insert);
    assert_non_null(strstr(s.insert, "ON CONFLICT (id) DO NOTHING"));
    assert_non_null(strstr(s.remove, "DELETE FROM \"ops\".\"Dead_Letters\" WHERE id = $1"));
    assert_non_null(strstr(s.list, "FROM \"ops\".\"Dead_Letters\" WHERE"));
    assert_non_null(strstr(s.list, "ORDER BY created_at, seq LIMIT $6"));
    sl_pgdlq_sql_release(&s);

    sl_pgdlq_sql_build("sluice_dlq", &s);
    assert_string_equal(s.table, "\"sluice_dlq\"");
    assert_non_null(strstr(s.count, "FROM \"sluice_dlq\" GROUP BY mapping"));
    sl_pgdlq_sql_release(&s);
}

static void test_registered(void **state)
{
    const struct sl_dlq_ops *ops = sl_dlq_find_type("postgres");
    assert_ptr_equal(ops, &sl_dlq_postgres_ops);
    assert_non_null(ops->init);
    assert_non_null(ops->close);
    assert_non_null(ops->ready);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_names_accepted),
        cmocka_unit_test(test_table_names_refused),
        cmocka_unit_test(test_statements_quote_the_table),
        cmocka_unit_test(test_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
