/* Weighted choice of a qualifier (version or alias) for each invocation, like a Lambda alias
 * with a routing configuration
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html). */
#ifndef SL_DISPATCHER_LAMBDA_ROUTE_H
#define SL_DISPATCHER_LAMBDA_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define SL_LAMBDA_ROUTES_MAX 8

struct sl_lambda_router {
    size_t n;
    double cum[SL_LAMBDA_ROUTES_MAX]; /* cumulative weights, the last one is the total */
    uint64_t state;                   /* xorshift64* state, never 0 */
};

/* weights: n (1..SL_LAMBDA_ROUTES_MAX) positive numbers (need not add up to 1). 0, or -EINVAL. */
int sl_lambda_router_init(struct sl_lambda_router *r, const double *weights, size_t n,
                          uint64_t seed);
/* The index of the next route. */
size_t sl_lambda_router_pick(struct sl_lambda_router *r);

#endif
