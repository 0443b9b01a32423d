/* Feeds arbitrary bytes to the request parser the connection code uses, as one connection's
 * input split into reads, parsing pipelined requests until the input ends or an error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "server/parse.h"

static void check_request(const struct sl_http_req *req)
{
    size_t len = 0;
    volatile size_t sink = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        sink += req->headers[i].name_len + req->headers[i].value_len;
    if (sl_http_header_get(req, "content-type", &len))
        sink += len;
    sink += strlen(req->method) + strlen(req->path) + strlen(req->query) + req->body_len;
    (void)sink;
}

static void run(const uint8_t *data, size_t size, size_t step)
{
    struct sl_http_limits limits = {
        .max_header_bytes = 2048, .max_body_bytes = 4096, .max_headers = 32};
    struct sl_http_parse ps;
    struct sl_http_msg msg;
    sl_http_msg_init(&msg);
    sl_http_parse_init(&ps, &limits);
    sl_http_parse_begin(&ps, &msg);
    size_t off = 0, avail = 0;
    while (off < size) {
        avail = avail + step > size ? size : avail + step;
        if (avail <= off)
            avail = off + 1;
        size_t used = 0;
        int st = sl_http_parse_feed(&ps, (const char *)data + off, avail - off, &used);
        off += used;
        if (st == SL_HTTP_PARSE_ERROR)
            break;
        if (st == SL_HTTP_PARSE_DONE) {
            check_request(&msg.req);
            if (!msg.keep_alive)
                break;
            sl_http_parse_begin(&ps, &msg);
        } else if (avail == size) {
            break; /* needs more than there is */
        }
    }
    sl_http_msg_release(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    run(data, size, size ? size : 1);                 /* one read */
    run(data, size, 1);                               /* byte by byte */
    run(data, size, size > 0 ? 1 + data[0] % 61 : 1); /* uneven reads */
    return 0;
}
