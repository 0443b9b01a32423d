#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/internal.h"

#define SL_HTTP_LISTEN_MAX 300
#define SL_HTTP_BACKLOG    511

/* Splits "host:port", "[v6]:port" or ":port" into host (may become "") and port. */
static int split_listen(const char *addr, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return -1; /* no port, or a bare IPv6 address without brackets */
        hlen = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5 || hlen >= host_cap || plen >= port_cap)
        return -1;
    for (size_t i = 0; i < plen; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    if (atoi(p) > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int sl_http_listen_open(const char *addr, int *fd_out, int *port_out, struct sl_err *err)
{
    char host[SL_HTTP_LISTEN_MAX], port[8];
    if (!addr || strlen(addr) >= SL_HTTP_LISTEN_MAX ||
        split_listen(addr, host, sizeof(host), port, sizeof(port)) < 0)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "invalid listen address \"%s\": expected host:port or [ipv6]:port",
                          addr ? addr : "(null)");
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const char *node = host[0] && strcmp(host, "*") != 0 ? host : "0.0.0.0";
    int rc = getaddrinfo(node, port, &hints, &res);
    if (rc != 0)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "cannot resolve listen address %s: %s",
                          addr, gai_strerror(rc));
    int last = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SL_HTTP_BACKLOG) < 0) {
            last = errno;
            close(fd);
            continue;
        }
        freeaddrinfo(res);
        *fd_out = fd;
        *port_out = bound_port(fd);
        return 0;
    }
    freeaddrinfo(res);
    return sl_err_set(err, SL_ERR_PERMANENT, -last, "cannot listen on %s: %s", addr,
                      strerror(last));
}

void sl_http_peer_format(const void *addr, char *out, size_t cap)
{
    const struct sockaddr *sa = addr;
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = addr;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, cap, "unknown");
    }
}

void sl_http_peer_addr(const void *addr, unsigned char out[16])
{
    const struct sockaddr *sa = addr;
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = addr;
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = addr;
        memcpy(out, &in6->sin6_addr, 16);
    }
}
