/* The baseline for bench/webhook: this HTTP server answers 200 "{}" to every request.
 * Usage: bench_http_noop --listen 127.0.0.1:PORT */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/http.h"

static void on_request(struct sl_http_exchange *x, const struct sl_http_req *req, void *arg)
{
    sl_http_respond_json(x, 200, "{}", 2);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else {
            fprintf(stderr, "usage: %s --listen HOST:PORT\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(0);
    struct sl_http_limits limits = {.max_connections = 20000};
    struct sl_http_server *srv = NULL;
    struct sl_err err = {0};
    if (sl_http_server_create(loop, listen, &limits, on_request, NULL, &srv, &err) < 0) {
        fprintf(stderr, "bench_http_noop: %s\n", err.msg);
        return 1;
    }
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    printf("listening on port %d\n", sl_http_server_port(srv));
    fflush(stdout);
    ev_run(loop, 0);
    sl_http_server_destroy(srv);
    return 0;
}
