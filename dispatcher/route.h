/* Weighted choice of a route for each invocation (a qualifier of the lambda type, a version of
 * the alias type), like a Lambda alias with a routing configuration
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html). */
#ifndef SL_DISPATCHER_ROUTE_H
#define SL_DISPATCHER_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct sl_jw;

#define SL_ROUTES_MAX 8

struct sl_router {
    size_t n;
    double cum[SL_ROUTES_MAX]; /* cumulative weights, the last one is the total */
    uint64_t state;            /* xorshift64* state, never 0 */
};

/* weights: n (1..SL_ROUTES_MAX) positive numbers (need not add up to 1). 0, or -EINVAL. */
int sl_router_init(struct sl_router *r, const double *weights, size_t n, uint64_t seed);
/* A seed that differs across runs and instances (the clock and `salt`, e.g. the owner's
 * address): the split is random, not the same sequence each time. */
uint64_t sl_router_seed(const void *salt);
/* Writes `"weight": <weight>` (shortest %g form) into an object being described. */
void sl_route_describe_weight(struct sl_jw *w, double weight);
/* The index of the next route. */
size_t sl_router_pick(struct sl_router *r);

#endif
