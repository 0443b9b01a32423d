#include "core/presleep.h"

static void run(struct sl_presleep *p)
{
    sl_presleep_disarm(p);
    p->cb(p->arg);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

void sl_presleep_init(struct sl_presleep *p, struct ev_loop *loop, void (*cb)(void *arg), void *arg)
{
    *p = (struct sl_presleep){.loop = loop, .cb = cb, .arg = arg};
    ev_prepare_init(&p->prepare, prepare_cb);
    p->prepare.data = p;
    ev_idle_init(&p->idle, idle_cb);
    p->idle.data = p;
}

void sl_presleep_arm(struct sl_presleep *p)
{
    ev_prepare_start(p->loop, &p->prepare);
    ev_idle_start(p->loop, &p->idle);
}

void sl_presleep_disarm(struct sl_presleep *p)
{
    ev_prepare_stop(p->loop, &p->prepare);
    ev_idle_stop(p->loop, &p->idle);
}
