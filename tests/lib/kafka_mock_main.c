/* kafka_mock [--brokers N] [TOPIC[:PARTITIONS] ...]
 *
 * librdkafka's mock cluster as a process for tests: N brokers (default 3) on loopback, the
 * topics given created (4 partitions unless told), the bootstrap string printed on stdout as
 * "bootstrap <servers>", then a line protocol on stdin, one answer line per command
 * ("ok" or "error <why>"):
 *   down <broker-id>                 rd_kafka_mock_broker_set_down
 *   up <broker-id>                   rd_kafka_mock_broker_set_up
 *   errors <api-key> <err> [<err>...] push errors for the next requests of that API
 *                                    (numeric Kafka error codes, e.g. 16 for NOT_COORDINATOR)
 *   clear <api-key>                  drop pushed errors
 *   topic <name> <partitions>        create a topic
 *   rtt <broker-id> <ms>             add latency
 *   leader <topic> <partition> <broker-id>
 * Exits on SIGTERM, SIGINT or end of stdin. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rd_kafka_mock_cluster_t *mcluster;

static int create_topic(const char *spec)
{
    char name[256];
    int parts = 4;
    snprintf(name, sizeof(name), "%s", spec);
    char *colon = strchr(name, ':');
    if (colon) {
        *colon = '\0';
        parts = atoi(colon + 1);
    }
    if (parts < 1)
        parts = 1;
    return rd_kafka_mock_topic_create(mcluster, name, parts, 1) ? -1 : 0;
}

static void answer(rd_kafka_resp_err_t e)
{
    if (e)
        printf("error %s\n", rd_kafka_err2str(e));
    else
        printf("ok\n");
    fflush(stdout);
}

static void command(char *line)
{
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 64; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc == 0)
        return;
    if (strcmp(argv[0], "down") == 0 && argc == 2) {
        answer(rd_kafka_mock_broker_set_down(mcluster, atoi(argv[1])));
    } else if (strcmp(argv[0], "up") == 0 && argc == 2) {
        answer(rd_kafka_mock_broker_set_up(mcluster, atoi(argv[1])));
    } else if (strcmp(argv[0], "errors") == 0 && argc >= 3) {
        rd_kafka_resp_err_t errs[60];
        size_t n = 0;
        for (int i = 2; i < argc && n < 60; i++)
            errs[n++] = (rd_kafka_resp_err_t)atoi(argv[i]);
        rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)atoi(argv[1]), n, errs);
        answer(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else if (strcmp(argv[0], "clear") == 0 && argc == 2) {
        rd_kafka_mock_clear_request_errors(mcluster, (int16_t)atoi(argv[1]));
        answer(RD_KAFKA_RESP_ERR_NO_ERROR);
    } else if (strcmp(argv[0], "topic") == 0 && argc == 3) {
        answer(rd_kafka_mock_topic_create(mcluster, argv[1], atoi(argv[2]), 1));
    } else if (strcmp(argv[0], "rtt") == 0 && argc == 3) {
        answer(rd_kafka_mock_broker_set_rtt(mcluster, atoi(argv[1]), atoi(argv[2])));
    } else if (strcmp(argv[0], "leader") == 0 && argc == 4) {
        answer(rd_kafka_mock_partition_set_leader(mcluster, argv[1], atoi(argv[2]), atoi(argv[3])));
    } else {
        printf("error unknown command %s\n", argv[0]);
        fflush(stdout);
    }
}

static void *stdin_main(void *arg)
{
    char line[4096];
    while (fgets(line, sizeof(line), stdin))
        command(line);
    kill(getpid(), SIGTERM); /* stdin closed: the test is gone */
    return NULL;
}

int main(int argc, char **argv)
{
    int brokers = 3;
    int first = 1;
    if (argc > 2 && strcmp(argv[1], "--brokers") == 0) {
        brokers = atoi(argv[2]);
        first = 3;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    mcluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mcluster) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (int i = first; i < argc; i++) {
        if (create_topic(argv[i]) < 0) {
            fprintf(stderr, "kafka_mock: cannot create topic %s\n", argv[i]);
            return 1;
        }
    }
    printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
    fflush(stdout);

    pthread_t th;
    pthread_create(&th, NULL, stdin_main, NULL);
    pthread_detach(th);
    int sig = 0;
    sigwait(&set, &sig);
    rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(rk);
    return 0;
}
