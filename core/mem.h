/* Allocation wrappers: sluice treats running out of memory as fatal, like Redis does. */
#ifndef SL_CORE_MEM_H
#define SL_CORE_MEM_H

#include <stddef.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t count, size_t n);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
void *sl_memdup(const void *p, size_t n);

#define SL_NEW(type)    ((type *)sl_calloc(1, sizeof(type)))
#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
