#include "clients/kafka/conf.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

bool sl_kafka_secret_key(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strcmp(key, "ssl.key.pem") == 0 ||
           strcmp(key, "sasl.oauthbearer.config") == 0 || strstr(key, "token");
}

void sl_kafka_conf_paths(const struct sl_config *cfg, struct sl_strmap *rdkafka)
{
    static const char *const path_keys[] = {
        "ssl.ca.location",      "ssl.certificate.location", "ssl.key.location",
        "ssl.crl.location",     "ssl.keystore.location",    "ssl.engine.location",
        "sasl.kerberos.keytab",
    };
    for (size_t i = 0; i < rdkafka->n; i++) {
        bool path = false;
        for (size_t k = 0; k < SL_ARRAY_LEN(path_keys) && !path; k++)
            path = strcmp(rdkafka->keys[i], path_keys[k]) == 0;
        if (!path || strcmp(rdkafka->vals[i], "probe") == 0)
            continue;
        char *resolved = sl_config_path(cfg, rdkafka->vals[i]);
        free(rdkafka->vals[i]);
        rdkafka->vals[i] = resolved;
    }
}

int sl_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val, const char *file,
                      const char *path, struct sl_err *err)
{
    char errstr[512];
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr));
    if (res == RD_KAFKA_CONF_OK)
        return 0;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                          "%s: %s.rdkafka.%s: not a librdkafka property (%s)", file, path, key,
                          errstr);
    bool secret = sl_kafka_secret_key(key);
    return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG, "%s: %s.rdkafka.%s: %s is not valid: %s",
                      file, path, key, secret ? "(secret)" : val,
                      secret ? "invalid value" : errstr);
}

int sl_kafka_conf_apply(rd_kafka_conf_t *conf, char *const *keys, char *const *vals, size_t n,
                        const struct sl_kafka_reserved *reserved, size_t nreserved, const char *why,
                        const char *file, const char *path, struct sl_err *err)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < nreserved; r++) {
            if (strcmp(keys[i], reserved[r].property) != 0)
                continue;
            if (reserved[r].instead)
                return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                                  "%s: %s.rdkafka.%s: set by sluice (use %s.%s instead)", file,
                                  path, keys[i], path, reserved[r].instead);
            return sl_err_set(err, SL_ERR_PERMANENT, SL_ECONFIG,
                              "%s: %s.rdkafka.%s: set by sluice (%s)", file, path, keys[i], why);
        }
        int rc = sl_kafka_conf_set(conf, keys[i], vals[i], file, path, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

enum sl_log_level sl_kafka_log_level(int syslog_level)
{
    return syslog_level <= 3   ? SL_LOG_ERROR
           : syslog_level == 4 ? SL_LOG_WARN
           : syslog_level <= 6 ? SL_LOG_INFO
                               : SL_LOG_DEBUG;
}
