/* AWS credentials: the shared credentials file parser and the configuration > environment >
 * profile order, with secrets kept out of every message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clients/aws/creds.h"

static const char file_text[] = "# comment\n"
                                "[default]\n"
                                "aws_access_key_id = AKIDDEFAULT\n"
                                "aws_secret_access_key = default-secret\n"
                                "\n"
                                "; another comment\n"
                                "[ ci ]\r\n"
                                "  aws_access_key_id=AKIDCI  \r\n"
                                "aws_secret_access_key =ci/secret+x==\r\n"
                                "aws_session_token = ci-token\r\n"
                                "region = eu-west-1\r\n"
                                "[empty]\n"
                                "aws_access_key_id = AKIDEMPTY\n";

static void test_parse_profiles(void **state)
{
    struct sl_aws_creds c;
    struct sl_err err = {0};
    assert_int_equal(sl_aws_creds_parse(file_text, strlen(file_text), "creds", "default", &c, &err),
                     0);
    assert_string_equal(c.access_key_id, "AKIDDEFAULT");
    assert_string_equal(c.secret_access_key, "default-secret");
    assert_null(c.session_token);
    assert_string_equal(c.source, "profile default of creds");
    sl_aws_creds_release(&c);
    assert_null(c.access_key_id);

    assert_int_equal(sl_aws_creds_parse(file_text, strlen(file_text), "creds", "ci", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDCI");
    assert_string_equal(c.secret_access_key, "ci/secret+x==");
    assert_string_equal(c.session_token, "ci-token");
    sl_aws_creds_release(&c);
}

static void test_parse_errors_name_file_and_profile_not_secrets(void **state)
{
    struct sl_aws_creds c;
    struct sl_err err = {0};
    assert_int_equal(sl_aws_creds_parse(file_text, strlen(file_text), "creds", "nope", &c, &err),
                     SL_ECONFIG);
    assert_string_equal(err.msg, "AWS credentials file creds: no profile [nope]");
    assert_int_equal(sl_aws_creds_parse(file_text, strlen(file_text), "creds", "empty", &c, &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "profile [empty] has no aws_access_key_id and"));
    const char *bad = "[x]\naws_access_key_id = A\nthis line is wrong secret-ish\n";
    assert_int_equal(sl_aws_creds_parse(bad, strlen(bad), "f", "x", &c, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "AWS credentials file f:3: expected \"key = value\"");
    const char *hdr = "[x\n";
    assert_int_equal(sl_aws_creds_parse(hdr, strlen(hdr), "f", "x", &c, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "f:1: a section header without ']'"));
    assert_int_equal(sl_aws_creds_parse("", SL_AWS_CREDS_FILE_MAX + 1, "f", "x", &c, &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "larger than"));
}

static void clear_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}

static char tmpfile_path[64];

static int write_file(void **state)
{
    snprintf(tmpfile_path, sizeof(tmpfile_path), "/tmp/sl-aws-creds-XXXXXX");
    int fd = mkstemp(tmpfile_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file_text, strlen(file_text)), (ssize_t)strlen(file_text));
    close(fd);
    clear_env();
    return 0;
}

static int remove_file(void **state)
{
    unlink(tmpfile_path);
    clear_env();
    return 0;
}

static void test_order_config_env_profile(void **state)
{
    struct sl_aws_creds c;
    struct sl_err err = {0};
    setenv("AWS_SHARED_CREDENTIALS_FILE", tmpfile_path, 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);

    /* 1. the configuration wins */
    struct sl_aws_creds_conf conf = {.access_key_id = "AKIDCONF", .secret_access_key = "cs"};
    assert_int_equal(sl_aws_creds_resolve(&conf, "f: functions[0].", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDCONF");
    assert_string_equal(c.source, "configuration");
    sl_aws_creds_release(&c);

    /* 2. then the environment */
    struct sl_aws_creds_conf none = {0};
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    assert_int_equal(sl_aws_creds_resolve(&none, "", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_string_equal(c.session_token, "env-token");
    assert_string_equal(c.source, "environment");
    sl_aws_creds_release(&c);

    /* a configured profile skips the environment */
    struct sl_aws_creds_conf prof = {.profile = "ci"};
    assert_int_equal(sl_aws_creds_resolve(&prof, "", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDCI");
    sl_aws_creds_release(&c);

    /* 3. then AWS_PROFILE, else default, of the file */
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(sl_aws_creds_resolve(&none, "", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDDEFAULT");
    sl_aws_creds_release(&c);
    setenv("AWS_PROFILE", "ci", 1);
    assert_int_equal(sl_aws_creds_resolve(&none, "", &c, &err), 0);
    assert_string_equal(c.access_key_id, "AKIDCI");
    assert_non_null(strstr(c.source, "profile ci of /tmp/sl-aws-creds-"));
    sl_aws_creds_release(&c);

    /* A file error names the section too. */
    struct sl_aws_creds_conf missing = {.profile = "nope"};
    assert_int_equal(sl_aws_creds_resolve(&missing, "f.yaml: functions[0].", &c, &err), SL_ECONFIG);
    assert_true(
        strncmp(err.msg, "f.yaml: functions[0]: AWS credentials file /tmp/sl-aws-creds-", 61) == 0);
    assert_non_null(strstr(err.msg, ": no profile [nope]"));

    /* no file: the message says where it looked */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds", 1);
    assert_int_equal(sl_aws_creds_resolve(&none, "f.yaml: functions[0].", &c, &err), SL_ECONFIG);
    assert_true(strncmp(err.msg, "f.yaml: functions[0]: no AWS credentials", 40) == 0);
    assert_non_null(strstr(err.msg, "/nonexistent/creds cannot be read"));
}

static void test_config_errors(void **state)
{
    struct sl_aws_creds c;
    struct sl_err err = {0};
    struct sl_aws_creds_conf only_id = {.access_key_id = "AKID"};
    assert_int_equal(sl_aws_creds_resolve(&only_id, "f.yaml: functions[0].", &c, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "f.yaml: functions[0].access_key_id: set with no "
                                    "secret_access_key"));
    struct sl_aws_creds_conf only_secret = {.secret_access_key = "TOPSECRET"};
    assert_int_equal(sl_aws_creds_resolve(&only_secret, "w.", &c, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "w.secret_access_key: set with no access_key_id"));
    assert_null(strstr(err.msg, "TOPSECRET"));
    struct sl_aws_creds_conf token = {.session_token = "TOKENSECRET"};
    assert_int_equal(sl_aws_creds_resolve(&token, "w.", &c, &err), SL_ECONFIG);
    assert_null(strstr(err.msg, "TOKENSECRET"));
    struct sl_aws_creds_conf both = {
        .access_key_id = "A", .secret_access_key = "S", .profile = "p"};
    assert_int_equal(sl_aws_creds_resolve(&both, "w.", &c, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "w.profile: set together with access_key_id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_profiles),
        cmocka_unit_test(test_parse_errors_name_file_and_profile_not_secrets),
        cmocka_unit_test_setup_teardown(test_order_config_env_profile, write_file, remove_file),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
