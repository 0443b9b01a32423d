/* librdkafka configuration helpers shared by the Kafka source and the Kafka DLQ sink. */
#ifndef SL_CLIENTS_KAFKA_CONF_H
#define SL_CLIENTS_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/err.h"
#include "core/log.h"

/* Makes the relative paths among the values of a bound `rdkafka` map relative to the config
 * file's folder (sl_config_path): the properties that name a file or folder (ssl.ca.location,
 * ssl.certificate.location, ssl.key.location, ssl.crl.location, ssl.keystore.location,
 * ssl.engine.location, sasl.kerberos.keytab; ssl.ca.location's "probe" is a keyword). */
void sl_kafka_conf_paths(const struct sl_config *cfg, struct sl_strmap *rdkafka);

/* True for property names whose values are secrets (passwords, keys, tokens): they are never
 * printed in errors, logs or describe(). */
bool sl_kafka_secret_key(const char *key);
/* rd_kafka_conf_set with an error that names `file: path.rdkafka.key`, the value (or
 * "(secret)") and librdkafka's reason. */
int sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, const char *file,
                      const char *path, struct sl_err *err);

/* The sluice log level of a librdkafka log line (its syslog level, rd_kafka_conf_set_log_cb). */
enum sl_log_level sl_kafka_log_level(int syslog_level);

/* A librdkafka property sluice sets itself, and the config key to use instead (or NULL). */
struct sl_kafka_reserved {
    const char *property;
    const char *instead;
};

/* Applies the user's `rdkafka` map (keys[i] = vals[i]) to conf. A reserved property is refused:
 * "set by sluice (use PATH.INSTEAD instead)", or "set by sluice (WHY)" when it has no
 * replacement key. Errors name `file: path.rdkafka.key`; secret values are never shown. */
int sl_kafka_conf_apply(rd_kafka_conf_t *conf, char *const *keys, char *const *vals, size_t n,
                        const struct sl_kafka_reserved *reserved, size_t nreserved, const char *why,
                        const char *file, const char *path, struct sl_err *err);

#endif
