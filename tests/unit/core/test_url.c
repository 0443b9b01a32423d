/* core/url: what of a function URL may be shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/url.h"

static void expect(const char *url, const char *want)
{
    char *got = sl_url_redact(url);
    assert_string_equal(got, want);
    free(got);
}

static void test_query_values_hidden_names_kept(void **state)
{
    expect("https://fn.azurewebsites.net/api/x?code=s3cret",
           "https://fn.azurewebsites.net/api/x?code=(redacted)");
    expect("http://h/p?code=s3cret&x=1&empty=&bare",
           "http://h/p?code=(redacted)&x=(redacted)&empty=&(redacted)");
    expect("http://h/p?", "http://h/p?");
    expect("http://h/p?a=1&&b=2", "http://h/p?a=(redacted)&&b=(redacted)");
    expect("http://h/p#tok=s3cret", "http://h/p#(redacted)");
    expect("http://h/p?k=v#f", "http://h/p?k=(redacted)#(redacted)");
}

static void test_userinfo_hidden(void **state)
{
    expect("http://user:pa@ss@h:8080/p?k=v", "http://***@h:8080/p?k=(redacted)");
    expect("https://user@h/", "https://***@h/");
    /* An '@' after the authority is not userinfo. */
    expect("http://h/p@x?y=@z", "http://h/p@x?y=(redacted)");
}

static void test_plain_urls_unchanged(void **state)
{
    expect("http://127.0.0.1:9000/invoke", "http://127.0.0.1:9000/invoke");
    expect("https://[::1]:9000/a/b", "https://[::1]:9000/a/b");
    expect("", "");
    expect(NULL, "");
}

static void test_urls_in_text(void **state)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_url_redact_text(&b, "Could not reach HTTPS://u:p@h/x?code=s3cret now; http://a/?k=v\"");
    assert_string_equal(
        b.data, "Could not reach HTTPS://***@h/x?code=(redacted) now; http://a/?k=(redacted)\"");
    sl_buf_reset(&b);
    sl_url_redact_text(&b, "no url here");
    assert_string_equal(b.data, "no url here");
    sl_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_values_hidden_names_kept),
        cmocka_unit_test(test_userinfo_hidden),
        cmocka_unit_test(test_plain_urls_unchanged),
        cmocka_unit_test(test_urls_in_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
