#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *sl_oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : sl_oom(n);
}

void *sl_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    return p ? p : sl_oom(count * n);
}

void *sl_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : sl_oom(n);
}

char *sl_strdup(const char *s)
{
    return s ? sl_memdup(s, strlen(s) + 1) : NULL;
}

char *sl_strndup(const char *s, size_t n)
{
    char *d = sl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *sl_memdup(const void *p, size_t n)
{
    void *d = sl_malloc(n);
    memcpy(d, p, n);
    return d;
}
