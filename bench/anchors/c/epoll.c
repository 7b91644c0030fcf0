/*
 * epoll.c: the floor. A hand-written single-thread loop in C on epoll,
 * as small as a loop can be and still be one: level-triggered fd sources
 * with a callback each, an eventfd per cross-thread wakeup, and a binary
 * min-heap of timers ordered by (deadline, insertion order) whose entries
 * know their slot, so that cancelling is an O(log n) removal. Nothing is
 * allocated while dispatching. One iteration: wait in epoll_pwait2 (a
 * nanosecond timeout, so timers are not rounded to milliseconds; epoll_wait
 * where the kernel or valgrind does not have it), run the
 * ready fds' callbacks in kernel order, read the clock once, run the due
 * timers.
 *
 * Workloads and their checks: ../../WORKLOADS.md.
 */
#include "driver.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#define IMPL "epoll"
#define MAX_EVENTS 64

/* ---- the loop ----------------------------------------------------------------------------- */

struct source {
	int fd;
	void (*cb)(struct source *, uint32_t events);
	void *ctx;
};

struct timer {
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	size_t slot;       /* index in the heap while armed */
	void (*cb)(struct timer *);
	void *ctx;
	uint64_t index; /* the workload's i */
};

/* A heap entry carries its keys, so that sifting does not chase pointers. */
struct hentry {
	uint64_t deadline;
	uint64_t seq; /* insertion order: FIFO among equal deadlines */
	struct timer *t;
};

struct loop {
	int ep;
	int stop;
	int no_pwait2; /* epoll_pwait2 failed with ENOSYS: epoll_wait with milliseconds */
	struct hentry *heap;
	size_t len, cap;
	uint64_t seq;
};

static int loop_init(struct loop *l)
{
	memset(l, 0, sizeof *l);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	return l->ep < 0 ? -1 : 0;
}

static void loop_free(struct loop *l)
{
	close(l->ep);
	free(l->heap);
}

static int loop_add(struct loop *l, struct source *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	return epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static inline int before(const struct hentry *a, const struct hentry *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static inline void heap_set(struct loop *l, size_t i, struct hentry e)
{
	l->heap[i] = e;
	e.t->slot = i;
}

static void sift_up(struct loop *l, size_t i)
{
	struct hentry e = l->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&e, &l->heap[p]))
			break;
		heap_set(l, i, l->heap[p]);
		i = p;
	}
	heap_set(l, i, e);
}

static void sift_down(struct loop *l, size_t i)
{
	struct hentry e = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->len)
			break;
		if (c + 1 < l->len && before(&l->heap[c + 1], &l->heap[c]))
			c++;
		if (!before(&l->heap[c], &e))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, e);
}

static int timer_add(struct loop *l, struct timer *t)
{
	if (l->len == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 1024;
		struct hentry *h = realloc(l->heap, nc * sizeof *h);
		if (!h)
			return -1;
		l->heap = h;
		l->cap = nc;
	}
	size_t i = l->len++;
	heap_set(l, i, (struct hentry){.deadline = t->deadline, .seq = l->seq++, .t = t});
	sift_up(l, i);
	return 0;
}

static void timer_cancel(struct loop *l, struct timer *t)
{
	size_t i = t->slot;
	struct hentry last = l->heap[--l->len];
	if (i == l->len)
		return;
	heap_set(l, i, last);
	if (i > 0 && before(&last, &l->heap[(i - 1) / 2]))
		sift_up(l, i);
	else
		sift_down(l, i);
}

/* loop_dispatch runs one iteration; timeout_ns < 0 waits without limit. */
static int loop_dispatch(struct loop *l, int64_t timeout_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	if (l->len > 0) {
		uint64_t now = now_ns();
		uint64_t d = l->heap[0].deadline;
		int64_t until = d > now ? (int64_t)(d - now) : 0;
		if (timeout_ns < 0 || until < timeout_ns)
			timeout_ns = until;
	}
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	int n;
	if (l->no_pwait2) {
		/* milliseconds, rounded up so that a timer is never early */
		int ms = tsp ? (int)((timeout_ns + 999999) / 1000000) : -1;
		n = epoll_wait(l->ep, evs, MAX_EVENTS, ms);
	} else {
		n = epoll_pwait2(l->ep, evs, MAX_EVENTS, tsp, NULL);
		if (n < 0 && errno == ENOSYS) { /* before Linux 5.11, or under valgrind 3.19 */
			l->no_pwait2 = 1;
			return 0;
		}
	}
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct source *s = evs[i].data.ptr;
		s->cb(s, evs[i].events);
	}
	if (l->len > 0) {
		uint64_t now = now_ns();
		while (l->len > 0 && l->heap[0].deadline <= now) {
			struct timer *t = l->heap[0].t;
			timer_cancel(l, t);
			t->cb(t);
		}
	}
	return 0;
}

static int loop_run(struct loop *l)
{
	l->stop = 0;
	while (!l->stop)
		if (loop_dispatch(l, -1) != 0)
			return -1;
	return 0;
}

static void write_u64(int fd, uint64_t v)
{
	while (write(fd, &v, 8) < 0 && errno == EINTR)
		;
}

/* ---- ping-pong ---------------------------------------------------------------------------- */

struct pingpong {
	struct loop loop;
	int wake, answer;
	uint64_t n, count;
	uint64_t elapsed;
	int bad;
};

static void pingpong_cb(struct source *s, uint32_t ev)
{
	(void)ev;
	struct pingpong *p = s->ctx;
	uint64_t v;
	if (read(p->wake, &v, 8) != 8)
		return;
	if (__atomic_load_n(&p->bad, __ATOMIC_ACQUIRE)) {
		p->loop.stop = 1;
		return;
	}
	p->count++;
	write_u64(p->answer, 1);
	if (p->count == p->n)
		p->loop.stop = 1;
}

static void *pinger(void *arg)
{
	struct pingpong *p = arg;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < p->n; i++) {
		write_u64(p->wake, 1);
		uint64_t v = 0;
		ssize_t r;
		while ((r = read(p->answer, &v, 8)) < 0 && errno == EINTR)
			;
		if (r != 8 || v != 1) {
			__atomic_store_n(&p->bad, 1, __ATOMIC_RELEASE);
			write_u64(p->wake, 1); /* the loop sees bad and stops */
			break;
		}
	}
	p->elapsed = now_ns() - t0;
	return NULL;
}

static int run_ping_pong(uint64_t n, struct outcome *o)
{
	struct pingpong p = {.n = n};
	if (loop_init(&p.loop) != 0)
		return failf(o, "epoll_create1: %s", strerror(errno));
	p.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p.answer = eventfd(0, EFD_CLOEXEC); /* blocking: the pinger sleeps in read */
	struct source src = {.fd = p.wake, .cb = pingpong_cb, .ctx = &p};
	if (p.wake < 0 || p.answer < 0 || loop_add(&p.loop, &src) != 0)
		return failf(o, "setup: %s", strerror(errno));
	pthread_t th;
	pthread_create(&th, NULL, pinger, &p);
	int rc = loop_run(&p.loop);
	pthread_join(th, NULL);
	close(p.wake);
	close(p.answer);
	loop_free(&p.loop);
	if (rc != 0)
		return failf(o, "epoll_pwait2: %s", strerror(errno));
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
	struct loop loop;
	pthread_mutex_t mu;
	uint64_t *q, *spare;
	size_t qlen, qcap, sparecap;
	int efd;
	uint64_t n, count, sum;
	uint64_t t0, end;
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
				write_u64(c->efd, 1);
				return NULL;
			}
			c->q = q;
			c->qcap = nc;
		}
		c->q[c->qlen++] = v;
		int first = c->qlen == 1;
		pthread_mutex_unlock(&c->mu);
		if (first)
			write_u64(c->efd, 1);
	}
	return NULL;
}

static void channel_cb(struct source *s, uint32_t ev)
{
	(void)ev;
	struct channel *c = s->ctx;
	uint64_t v;
	if (read(c->efd, &v, 8) != 8)
		return;
	pthread_mutex_lock(&c->mu);
	uint64_t *batch = c->q;
	size_t len = c->qlen, cap = c->qcap;
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
	if (c->count >= c->n || c->oom) {
		c->end = now_ns();
		c->loop.stop = 1;
	}
}

static int run_channel(uint64_t n, struct outcome *o)
{
	struct channel c = {.n = n};
	pthread_mutex_init(&c.mu, NULL);
	if (loop_init(&c.loop) != 0)
		return failf(o, "epoll_create1: %s", strerror(errno));
	c.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct source src = {.fd = c.efd, .cb = channel_cb, .ctx = &c};
	if (c.efd < 0 || loop_add(&c.loop, &src) != 0)
		return failf(o, "setup: %s", strerror(errno));
	pthread_t th;
	pthread_create(&th, NULL, sender, &c);
	int rc = loop_run(&c.loop);
	pthread_join(th, NULL);
	close(c.efd);
	free(c.q);
	free(c.spare);
	loop_free(&c.loop);
	if (rc != 0)
		return failf(o, "epoll_pwait2: %s", strerror(errno));
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
	struct loop loop;
	uint64_t expect, count, sum;
};

static void timer_fired(struct timer *t)
{
	struct timers *w = t->ctx;
	w->count++;
	w->sum += t->index;
	if (w->count == w->expect)
		w->loop.stop = 1;
}

static int run_timers_common(uint64_t n, int cancel, struct outcome *o)
{
	struct timers w = {.expect = cancel ? (n + 1) / 2 : n};
	if (loop_init(&w.loop) != 0)
		return failf(o, "epoll_create1: %s", strerror(errno));
	struct timer *ts = malloc(n * sizeof *ts);
	if (!ts)
		return failf(o, "out of memory");
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		ts[i] = (struct timer){.deadline = t0 + timer_offset_ms(i) * 1000000ull,
				       .cb = timer_fired,
				       .ctx = &w,
				       .index = i};
		if (timer_add(&w.loop, &ts[i]) != 0)
			return failf(o, "out of memory");
	}
	if (cancel)
		for (uint64_t i = 1; i < n; i += 2)
			timer_cancel(&w.loop, &ts[i]);
	int rc = 0;
	w.loop.stop = w.expect == 0;
	while (!w.loop.stop && rc == 0) {
		if (w.loop.len == 0) {
			rc = 1;
			break;
		}
		rc = loop_dispatch(&w.loop, -1);
	}
	uint64_t elapsed = now_ns() - t0;
	free(ts);
	loop_free(&w.loop);
	if (rc != 0)
		return failf(o, "the loop ran out of timers or failed");
	if (w.count != w.expect)
		return failf(o, "%" PRIu64 " fired, want %" PRIu64, w.count, w.expect);
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
	struct loop loop;
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
	p->loop.stop = 1;
}

static void b_ready(struct source *s, uint32_t ev)
{
	(void)ev;
	struct fdpp *p = s->ctx;
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

static void a_ready(struct source *s, uint32_t ev)
{
	(void)ev;
	struct fdpp *p = s->ctx;
	char buf[16];
	ssize_t k = read(p->a, buf, sizeof buf);
	if (k < 0 && errno == EAGAIN)
		return;
	if (k != 1)
		return fdpp_fail(p, "read a", k);
	if (++p->count == p->n) {
		p->loop.stop = 1;
		return;
	}
	if ((k = write(p->a, "q", 1)) != 1)
		return fdpp_fail(p, "write a", k);
}

static void idle_ready(struct source *s, uint32_t ev)
{
	(void)ev;
	struct fdpp *p = s->ctx;
	p->idle_hits++;
	p->loop.stop = 1;
}

static int run_fdpp(uint64_t n, int idle_pairs, struct outcome *o)
{
	struct fdpp p = {.n = n};
	if (loop_init(&p.loop) != 0)
		return failf(o, "epoll_create1: %s", strerror(errno));
	int *fds = calloc((size_t)idle_pairs * 2 + 2, sizeof *fds);
	struct source *srcs = calloc((size_t)idle_pairs * 2 + 2, sizeof *srcs);
	if (!fds || !srcs)
		return failf(o, "out of memory");
	int nfds = 0, rc = 0;
	for (int i = 0; i <= idle_pairs && rc == 0; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
			rc = failf(o, "socketpair: %s", strerror(errno));
			break;
		}
		for (int j = 0; j < 2; j++) {
			struct source *s = &srcs[nfds];
			fds[nfds++] = sv[j];
			s->fd = sv[j];
			s->ctx = &p;
			s->cb = i < idle_pairs ? idle_ready : j == 0 ? a_ready : b_ready;
			if (loop_add(&p.loop, s) != 0) {
				rc = failf(o, "epoll_ctl: %s", strerror(errno));
				break;
			}
		}
		if (i == idle_pairs) {
			p.a = sv[0];
			p.b = sv[1];
		}
	}
	uint64_t t0 = 0, elapsed = 0;
	if (rc == 0) {
		t0 = now_ns();
		if (write(p.a, "q", 1) != 1)
			rc = failf(o, "first write: %s", strerror(errno));
		else if (loop_run(&p.loop) != 0)
			rc = failf(o, "epoll_pwait2: %s", strerror(errno));
		elapsed = now_ns() - t0;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	free(fds);
	free(srcs);
	loop_free(&p.loop);
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

static void never(struct source *s, uint32_t ev)
{
	(void)ev;
	(*(uint64_t *)s->ctx)++;
}

static int run_idle_dispatch(uint64_t n, struct outcome *o)
{
	struct loop l;
	if (loop_init(&l) != 0)
		return failf(o, "epoll_create1: %s", strerror(errno));
	uint64_t hits = 0;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct source src = {.fd = efd, .cb = never, .ctx = &hits};
	if (efd < 0 || loop_add(&l, &src) != 0)
		return failf(o, "setup: %s", strerror(errno));
	uint64_t t0 = now_ns(), done = 0;
	int rc = 0;
	while (done < n) {
		if (loop_dispatch(&l, 0) != 0) {
			rc = failf(o, "epoll_pwait2: %s", strerror(errno));
			break;
		}
		done++;
		if (done % 64 == 0 && now_ns() - t0 > IDLE_DISPATCH_CAP_NS)
			break;
	}
	uint64_t elapsed = now_ns() - t0;
	close(efd);
	loop_free(&l);
	if (rc != 0)
		return rc;
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
