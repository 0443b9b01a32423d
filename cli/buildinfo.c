#include "cli/buildinfo.h"

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>

#include "core/metrics.h"

void sl_build_info_render(struct sl_buf *out)
{
    struct sl_buf l;
    sl_buf_init(&l);
    sl_metrics_label(&l, "version", SL_VERSION);
    sl_metrics_label(&l, "librdkafka", rd_kafka_version_str());
    sl_metrics_label(&l, "libcurl", curl_version_info(CURLVERSION_NOW)->version);
    sl_metrics_label(&l, "sqlite", sqlite3_libversion());
    sl_metrics_label(&l, "jansson", jansson_version_str());
    sl_buf_printf(out,
                  "# HELP sluice_build_info The version of sluice and of its libraries (always "
                  "1).\n# TYPE sluice_build_info gauge\nsluice_build_info{%s} 1\n",
                  l.data);
    sl_buf_release(&l);
}
