/*
 * libuv.c: the loop workloads on libuv (Debian's libuv1-dev, 1.44), written
 * as a libuv user would: uv_async_t for cross-thread wakeups, a mutex-guarded
 * queue plus uv_async_send for the channel (libuv has no message channel;
 * uv_async_send coalesces), one uv_timer_t per timeout, uv_poll_t on the
 * socketpairs (libuv's epoll backend is level-triggered), and
 * uv_run(UV_RUN_NOWAIT) as the zero-timeout dispatch.
 *
 * Workloads and their checks: ../../WORKLOADS.md.
 */
#include "driver.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <uv.h>

#define IMPL "libuv"

static void write_u64(int fd, uint64_t v)
{
	while (write(fd, &v, 8) < 0 && errno == EINTR)
		;
}

/* close_all closes every handle still open and runs the loop until they are gone. */
static void close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int loop_finish(uv_loop_t *loop)
{
	uv_walk(loop, close_walk, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	return uv_loop_close(loop);
}

/* ---- ping-pong ---------------------------------------------------------------------------- */

struct pingpong {
	uv_async_t async;
	int answer;
	uint64_t n, count, elapsed;
	int bad;
};

static void pingpong_cb(uv_async_t *a)
{
	struct pingpong *p = a->data;
	if (__atomic_load_n(&p->bad, __ATOMIC_ACQUIRE)) {
		uv_close((uv_handle_t *)a, NULL);
		return;
	}
	p->count++;
	write_u64(p->answer, 1);
	if (p->count == p->n)
		uv_close((uv_handle_t *)a, NULL); /* no active handle left: uv_run returns */
}

static void *pinger(void *arg)
{
	struct pingpong *p = arg;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < p->n; i++) {
		uv_async_send(&p->async);
		uint64_t v = 0;
		ssize_t r;
		while ((r = read(p->answer, &v, 8)) < 0 && errno == EINTR)
			;
		if (r != 8 || v != 1) {
			__atomic_store_n(&p->bad, 1, __ATOMIC_RELEASE);
			uv_async_send(&p->async);
			break;
		}
	}
	p->elapsed = now_ns() - t0;
	return NULL;
}

static int run_ping_pong(uint64_t n, struct outcome *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct pingpong p = {.n = n};
	p.answer = eventfd(0, EFD_CLOEXEC); /* blocking: the pinger sleeps in read */
	if (p.answer < 0)
		return failf(o, "eventfd: %s", strerror(errno));
	uv_async_init(&loop, &p.async, pingpong_cb);
	p.async.data = &p;
	pthread_t th;
	pthread_create(&th, NULL, pinger, &p);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	close(p.answer);
	loop_finish(&loop);
	if (p.bad)
		return failf(o, "an answer was not 1");
	if (p.count != n)
		return failf(o, "loop saw %" PRIu64 " pings, want %" PRIu64, p.count, n);
	o->ops = n;
	o->ns = p.elapsed;
	return 0;
}

/* ---- channel ------------------------------------------------------------------------------ */

struct channel {
	uv_async_t async;
	pthread_mutex_t mu;
	uint64_t *q, *spare;
	size_t qlen, qcap, sparecap;
	uint64_t n, count, sum, t0, end;
	int oom;
};

static void *sender(void *arg)
{
	struct channel *c = arg;
	c->t0 = now_ns();
	for (uint64_t v = 1; v <= c->n; v++) {
		pthread_mutex_lock(&c->mu);
		if (c->qlen == c->qcap) {
			size_t nc = c->qcap ? c->qcap * 2 : 1024;
			uint64_t *q = realloc(c->q, nc * sizeof *q);
			if (!q) {
				c->oom = 1;
				pthread_mutex_unlock(&c->mu);
				uv_async_send(&c->async);
				return NULL;
			}
			c->q = q;
			c->qcap = nc;
		}
		c->q[c->qlen++] = v;
		pthread_mutex_unlock(&c->mu);
		uv_async_send(&c->async); /* per message, as a libuv user does; libuv coalesces */
	}
	return NULL;
}

static void channel_cb(uv_async_t *a)
{
	struct channel *c = a->data;
	pthread_mutex_lock(&c->mu);
	uint64_t *batch = c->q;
	size_t len = c->qlen, cap = c->qcap;
	int oom = c->oom;
	c->q = c->spare;
	c->qcap = c->sparecap;
	c->qlen = 0;
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < len; i++) {
		c->count++;
		c->sum += batch[i];
	}
	c->spare = batch;
	c->sparecap = cap;
	if (c->count >= c->n || oom) {
		c->end = now_ns();
		uv_close((uv_handle_t *)a, NULL);
	}
}

static int run_channel(uint64_t n, struct outcome *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct channel c = {.n = n};
	pthread_mutex_init(&c.mu, NULL);
	uv_async_init(&loop, &c.async, channel_cb);
	c.async.data = &c;
	pthread_t th;
	pthread_create(&th, NULL, sender, &c);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	loop_finish(&loop);
	free(c.q);
	free(c.spare);
	if (c.oom)
		return failf(o, "out of memory");
	if (c.count != n)
		return failf(o, "received %" PRIu64 ", want %" PRIu64, c.count, n);
	if (c.sum != n * (n + 1) / 2)
		return failf(o, "sum %" PRIu64 ", want %" PRIu64, c.sum, n * (n + 1) / 2);
	o->ops = n;
	o->ns = c.end - c.t0;
	return 0;
}

/* ---- timers, timers-cancel ---------------------------------------------------------------- */

struct timers {
	uint64_t count, sum;
};

struct utimer {
	uv_timer_t h;
	struct timers *w;
	uint64_t index;
};

static void timer_cb(uv_timer_t *h)
{
	struct utimer *t = (struct utimer *)h;
	t->w->count++;
	t->w->sum += t->index;
	/* repeat 0: the timer is inactive now; uv_run returns when none is left */
}

static int run_timers_common(uint64_t n, int cancel, struct outcome *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct timers w = {0};
	struct utimer *ts = malloc(n * sizeof *ts);
	if (!ts)
		return failf(o, "out of memory");
	/*
	 * libuv timeouts are relative to the loop's cached time (ms), which does
	 * not move while we insert: deadline i = start + (i*7919 mod 100) ms.
	 */
	uv_update_time(&loop);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		ts[i].w = &w;
		ts[i].index = i;
		uv_timer_init(&loop, &ts[i].h);
		uv_timer_start(&ts[i].h, timer_cb, timer_offset_ms(i), 0);
	}
	if (cancel)
		for (uint64_t i = 1; i < n; i += 2)
			uv_timer_stop(&ts[i].h);
	uv_run(&loop, UV_RUN_DEFAULT);
	uint64_t elapsed = now_ns() - t0;
	loop_finish(&loop); /* closes the (inactive) timer handles */
	free(ts);
	uint64_t expect = cancel ? (n + 1) / 2 : n;
	if (w.count != expect)
		return failf(o, "%" PRIu64 " fired, want %" PRIu64, w.count, expect);
	uint64_t want = index_sum(n, cancel ? 2 : 1);
	if (w.sum != want)
		return failf(o, "index sum %" PRIu64 ", want %" PRIu64, w.sum, want);
	o->ops = n;
	o->ns = elapsed;
	return 0;
}

static int run_timers(uint64_t n, struct outcome *o) { return run_timers_common(n, 0, o); }
static int run_timers_cancel(uint64_t n, struct outcome *o) { return run_timers_common(n, 1, o); }

/* ---- fd-pingpong, many-sources ------------------------------------------------------------ */

struct fdpp {
	uv_loop_t *loop;
	int a, b;
	uint64_t n, count, bbytes, idle_hits;
	int bad;
	char why[128];
};

static void fdpp_fail(struct fdpp *p, const char *what, ssize_t k)
{
	if (!p->bad)
		snprintf(p->why, sizeof p->why, "%s returned %zd (%s)", what, k, k < 0 ? strerror(errno) : "");
	p->bad = 1;
	uv_stop(p->loop);
}

static void b_ready(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct fdpp *p = h->data;
	if (status < 0)
		return fdpp_fail(p, "poll b", status);
	char buf[16];
	ssize_t k = read(p->b, buf, sizeof buf);
	if (k < 0 && errno == EAGAIN)
		return;
	if (k != 1)
		return fdpp_fail(p, "read b", k);
	p->bbytes++;
	if ((k = write(p->b, "p", 1)) != 1)
		return fdpp_fail(p, "write b", k);
}

static void a_ready(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct fdpp *p = h->data;
	if (status < 0)
		return fdpp_fail(p, "poll a", status);
	char buf[16];
	ssize_t k = read(p->a, buf, sizeof buf);
	if (k < 0 && errno == EAGAIN)
		return;
	if (k != 1)
		return fdpp_fail(p, "read a", k);
	if (++p->count == p->n) {
		uv_stop(p->loop);
		return;
	}
	if ((k = write(p->a, "q", 1)) != 1)
		return fdpp_fail(p, "write a", k);
}

static void idle_ready(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	struct fdpp *p = h->data;
	p->idle_hits++;
	uv_stop(p->loop);
}

static int run_fdpp(uint64_t n, int idle_pairs, struct outcome *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct fdpp p = {.n = n, .loop = &loop};
	size_t total = (size_t)idle_pairs * 2 + 2;
	int *fds = calloc(total, sizeof *fds);
	uv_poll_t *polls = calloc(total, sizeof *polls);
	if (!fds || !polls)
		return failf(o, "out of memory");
	int nfds = 0, rc = 0;
	for (int i = 0; i <= idle_pairs && rc == 0; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
			rc = failf(o, "socketpair: %s", strerror(errno));
			break;
		}
		for (int j = 0; j < 2; j++) {
			uv_poll_t *h = &polls[nfds];
			fds[nfds++] = sv[j];
			int e = uv_poll_init(&loop, h, sv[j]);
			if (e == 0) {
				h->data = &p;
				e = uv_poll_start(h, UV_READABLE,
						  i < idle_pairs ? idle_ready : j == 0 ? a_ready : b_ready);
			}
			if (e != 0) {
				rc = failf(o, "uv_poll: %s", uv_strerror(e));
				break;
			}
		}
		if (i == idle_pairs) {
			p.a = sv[0];
			p.b = sv[1];
		}
	}
	uint64_t elapsed = 0;
	if (rc == 0) {
		uint64_t t0 = now_ns();
		if (write(p.a, "q", 1) != 1)
			rc = failf(o, "first write: %s", strerror(errno));
		else
			uv_run(&loop, UV_RUN_DEFAULT);
		elapsed = now_ns() - t0;
	}
	loop_finish(&loop);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(fds);
	free(polls);
	if (rc != 0)
		return rc;
	if (p.bad)
		return failf(o, "%s", p.why);
	if (p.idle_hits)
		return failf(o, "idle sources fired %" PRIu64 " times", p.idle_hits);
	if (p.count != n || p.bbytes != n)
		return failf(o, "%" PRIu64 " round trips, %" PRIu64 " bytes at b, want %" PRIu64, p.count,
			     p.bbytes, n);
	o->ops = n;
	o->ns = elapsed;
	return 0;
}

static int run_fd_pingpong(uint64_t n, struct outcome *o) { return run_fdpp(n, 0, o); }
static int run_many_sources(uint64_t n, struct outcome *o)
{
	return run_fdpp(n, idle_pairs_that_fit(IMPL, MANY_SOURCES_PAIRS), o);
}

/* ---- idle-dispatch ------------------------------------------------------------------------ */

static void never(uv_async_t *a) { (*(uint64_t *)a->data)++; }

static int run_idle_dispatch(uint64_t n, struct outcome *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	uint64_t hits = 0;
	uv_async_t a;
	uv_async_init(&loop, &a, never);
	a.data = &hits;
	uint64_t t0 = now_ns(), done = 0;
	while (done < n) {
		uv_run(&loop, UV_RUN_NOWAIT);
		done++;
		if (done % 64 == 0 && now_ns() - t0 > IDLE_DISPATCH_CAP_NS)
			break;
	}
	uint64_t elapsed = now_ns() - t0;
	loop_finish(&loop);
	if (hits)
		return failf(o, "the idle source fired %" PRIu64 " times", hits);
	if (done < n)
		fprintf(stderr, IMPL ": idle-dispatch: stopped after %" PRIu64 " of %" PRIu64 " dispatches\n",
			done, n);
	o->ops = done;
	o->ns = elapsed;
	return 0;
}

static const struct workload workloads[] = {
    {"ping-pong", run_ping_pong, N_PING_PONG, OPS_PER_SEC},
    {"channel", run_channel, N_CHANNEL, OPS_PER_SEC},
    {"timers", run_timers, N_TIMERS, NS_PER_OP},
    {"timers-cancel", run_timers_cancel, N_TIMERS, NS_PER_OP},
    {"fd-pingpong", run_fd_pingpong, N_FD_PINGPONG, OPS_PER_SEC},
    {"idle-dispatch", run_idle_dispatch, N_IDLE_DISPATCH, NS_PER_OP},
    {"many-sources", run_many_sources, N_MANY_SOURCES, OPS_PER_SEC},
};

int main(int argc, char **argv)
{
	return driver_main(IMPL, workloads, (int)(sizeof workloads / sizeof workloads[0]), argc, argv);
}
