/* The "alias" function target: a name in front of other functions ("versions") that sends each
 * invocation to one of them chosen by weight, like a Lambda alias with a routing configuration
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html).
 *
 * Decisions the rest of sluice relies on:
 * - Weights are relative: a version gets weight / (sum of weights) of the invocations. Lambda's
 *   form (a primary version and an additional one with a weight 0..1) is the same with weights
 *   that add up to 1, e.g. 0.9 and 0.1.
 * - Every invoke chooses again: a retry of a batch is routed by weight anew, as a retried
 *   invocation of a Lambda alias is (docs/ALIASES.md).
 * - The version is looked up by name at each invoke (sl_env.function), never kept as a pointer:
 *   a version rebuilt by a reload is used from its next invocation on. A version that is not
 *   running makes invoke fail with -ENOENT (the mapping retries later without using an attempt).
 * - The outcome is the version's, with executed_version set to the version's name and, when it
 *   failed, its error text prefixed with "<version>: " (the DLQ attempt history shows it).
 * - A version is another function section that is not an alias itself (no nesting, hence no
 *   cycles), listed once. */
#ifndef SL_DISPATCHER_ALIAS_ALIAS_TARGET_H
#define SL_DISPATCHER_ALIAS_ALIAS_TARGET_H

#include <stdbool.h>

#include "config/props.h"
#include "core/err.h"
#include "dispatcher/target.h"

/* One entry of `routing`. */
struct sl_alias_version_conf {
    char *function;
    double weight;
};

/* The bound keys of a function section of type "alias". */
struct sl_alias_target_conf {
    struct sl_objlist routing; /* of struct sl_alias_version_conf */
};

extern const struct sl_target_ops sl_target_alias_ops;
extern const struct sl_prop_table sl_alias_target_props;

/* Checks the bound keys against the config's function sections; messages start with `where`
 * and the key path. self is the alias's own section name. */
int sl_alias_target_conf_check(const struct sl_alias_target_conf *conf, const struct sl_config *cfg,
                               const char *self, const char *where, struct sl_err *err);
/* ops->create. */
int sl_target_alias_create(const struct sl_env *env, const struct sl_cfg_typed *sec,
                           struct sl_target **out, struct sl_err *err);
/* True when t is an alias with `name` among its versions (a reload rebuilding that version
 * restarts the alias's mappings too). */
bool sl_target_alias_routes_to(const struct sl_target *t, const char *name);

#endif
