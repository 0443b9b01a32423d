#include "clients/kafka/conf.h"

#include <string.h>

bool sl_kafka_secret_key(const char *key)
{
    return strstr(key, "password") || strstr(key, "secret") || strcmp(key, "ssl.key.pem") == 0 ||
           strcmp(key, "sasl.oauthbearer.config") == 0 || strstr(key, "token");
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
