/* bench_kafka_baseline -b SERVERS -t TOPIC -n N [-g GROUP]
 *
 * The raw baseline of bench/kafka.py: a bare librdkafka group consumer reading N records of a
 * pre-filled topic from the beginning, doing nothing with them. Prints one JSON line:
 * {"records":N,"seconds":S,"rate":R}, timed from the first record to the last (the group join
 * is left out, as it is for sluice). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *servers = NULL, *topic = NULL, *group = "bench-baseline";
    long n = 0;
    int c;
    while ((c = getopt(argc, argv, "b:t:n:g:")) != -1) {
        if (c == 'b')
            servers = optarg;
        else if (c == 't')
            topic = optarg;
        else if (c == 'n')
            n = atol(optarg);
        else if (c == 'g')
            group = optarg;
        else
            return 2;
    }
    if (!servers || !topic || n <= 0) {
        fprintf(stderr, "usage: bench_kafka_baseline -b SERVERS -t TOPIC -n N [-g GROUP]\n");
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", servers},
                           {"group.id", group},
                           {"auto.offset.reset", "earliest"},
                           {"enable.auto.commit", "true"},
                           {"session.timeout.ms", "6000"},
                           {"heartbeat.interval.ms", "500"},
                           {"log_level", "3"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr))) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    long got = 0;
    size_t bytes = 0;
    double t0 = 0, deadline = now_s() + 120;
    while (got < n && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (got == 0)
                t0 = now_s();
            got++;
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = now_s() - t0;
    printf("{\"records\":%ld,\"bytes\":%zu,\"seconds\":%.3f,\"rate\":%.0f}\n", got, bytes, secs,
           secs > 0 ? (double)got / secs : 0.0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}
