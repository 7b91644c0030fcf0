/*
 * driver.h: the command line, timing and reporting shared by the C anchors
 * (epoll.c and libuv.c). Each anchor defines its workloads as functions that
 * run once with a parameter n and fill a struct outcome; the driver runs each
 * selected workload REPS times, keeps the best run, and prints
 *
 *     BENCH <workload> <impl> <value> <unit>
 *
 * on stdout and nothing else. Every single run goes to stderr. A run whose
 * own checks fail prints "FAIL" on stderr and makes the process exit with
 * status 1 after the remaining workloads have run.
 *
 *     <impl>-anchor [-r REPS] [-n N] [WORKLOAD...]
 */
#ifndef ANCHOR_DRIVER_H
#define ANCHOR_DRIVER_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum unit { OPS_PER_SEC, NS_PER_OP };

/* What one run measured: ops operations in ns nanoseconds. */
struct outcome {
	uint64_t ops;
	uint64_t ns;
	char why[256]; /* set when a check failed */
};

struct workload {
	const char *name;
	int (*run)(uint64_t n, struct outcome *o); /* 0: ok, else a check failed */
	uint64_t n;                                /* the N of WORKLOADS.md */
	enum unit unit;
};

/* The seven loop workloads and their N, in WORKLOADS.md order. */
#define N_PING_PONG 200000u
#define N_CHANNEL 2000000u
#define N_TIMERS 1000000u
#define N_FD_PINGPONG 500000u
#define N_IDLE_DISPATCH 2000000u
#define N_MANY_SOURCES 200000u
#define MANY_SOURCES_PAIRS 5000
#define IDLE_DISPATCH_CAP_NS 1000000000ull /* one idle-dispatch run stops after 1 s */
#define TIMER_SPREAD_MS 100u               /* deadline i = start + (i*7919 mod 100) ms */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t timer_offset_ms(uint64_t i) { return i * 7919u % TIMER_SPREAD_MS; }

/* Sum of the indices 0, step, 2*step, ... below n: what the timers must add up to. */
static inline uint64_t index_sum(uint64_t n, uint64_t step)
{
	uint64_t s = 0;
	for (uint64_t i = 0; i < n; i += step)
		s += i;
	return s;
}

__attribute__((format(printf, 2, 3))) static inline int failf(struct outcome *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof o->why, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * idle_pairs_that_fit raises RLIMIT_NOFILE's soft limit to its hard limit and
 * returns how many idle socketpairs fit with 64 descriptors to spare, at most
 * want (said on stderr when fewer).
 */
static inline int idle_pairs_that_fit(const char *impl, int want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return want;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	long fit = rl.rlim_cur > 64 ? (long)(rl.rlim_cur - 64) / 2 : 0;
	if (fit < want) {
		fprintf(stderr, "%s: many-sources: RLIMIT_NOFILE=%ld fits %ld idle pairs, not %d\n", impl,
			(long)rl.rlim_cur, fit, want);
		return (int)fit;
	}
	return want;
}

static inline double outcome_value(const struct outcome *o, enum unit u)
{
	if (u == OPS_PER_SEC)
		return (double)o->ops * 1e9 / (double)o->ns;
	return (double)o->ns / (double)o->ops;
}

static inline void print_value(FILE *f, double v, enum unit u)
{
	if (u == OPS_PER_SEC)
		fprintf(f, "%.0f ops/s", v);
	else
		fprintf(f, "%.1f ns/op", v);
}

/* -t (diagnostics): an extra thread that only sleeps, so that the process is
 * multi-threaded, as every Go program is. The kernel then takes a reference on
 * the file of every descriptor a system call names (fdget/fput), which it
 * skips for a single-threaded process. */
static void *driver_sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static inline int driver_main(const char *impl, const struct workload *ws, int nws, int argc, char **argv)
{
	int reps = 3;
	uint64_t n_override = 0;
	int opt;
	while ((opt = getopt(argc, argv, "r:n:th")) != -1) {
		switch (opt) {
		case 't': {
			pthread_t th;
			if (pthread_create(&th, NULL, driver_sleeper, NULL) != 0) {
				fprintf(stderr, "%s: pthread_create failed\n", impl);
				return 2;
			}
			break;
		}
		case 'r':
			reps = atoi(optarg);
			if (reps < 1)
				reps = 1;
			break;
		case 'n':
			n_override = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: %s-anchor [-r REPS] [-n N] [-t] [WORKLOAD...]\nworkloads:", impl);
			for (int i = 0; i < nws; i++)
				fprintf(stderr, " %s", ws[i].name);
			fprintf(stderr, "\n");
			return 2;
		}
	}
	const struct workload *todo[64];
	int ntodo = 0;
	if (optind >= argc) {
		for (int i = 0; i < nws && ntodo < 64; i++)
			todo[ntodo++] = &ws[i];
	} else {
		for (int a = optind; a < argc && ntodo < 64; a++) {
			int found = 0;
			for (int i = 0; i < nws; i++) {
				if (strcmp(argv[a], ws[i].name) == 0) {
					todo[ntodo++] = &ws[i];
					found = 1;
				}
			}
			if (!found) {
				fprintf(stderr, "%s: unknown workload %s\n", impl, argv[a]);
				return 2;
			}
		}
	}

	int status = 0;
	for (int t = 0; t < ntodo; t++) {
		const struct workload *w = todo[t];
		uint64_t n = n_override ? n_override : w->n;
		double best = 0;
		int have = 0;
		for (int rep = 1; rep <= reps; rep++) {
			struct outcome o;
			memset(&o, 0, sizeof o);
			if (w->run(n, &o) != 0) {
				fprintf(stderr, "%s: FAIL: %s run %d: %s\n", impl, w->name, rep, o.why);
				status = 1;
				break;
			}
			if (o.ops == 0 || o.ns == 0) {
				fprintf(stderr, "%s: FAIL: %s run %d: nothing measured\n", impl, w->name, rep);
				status = 1;
				break;
			}
			double v = outcome_value(&o, w->unit);
			fprintf(stderr, "%s: %s run %d: ", impl, w->name, rep);
			print_value(stderr, v, w->unit);
			fprintf(stderr, " (%" PRIu64 " ops)\n", o.ops);
			if (!have || (w->unit == OPS_PER_SEC ? v > best : v < best)) {
				best = v;
				have = 1;
			}
		}
		if (have) {
			printf("BENCH %s %s ", w->name, impl);
			if (w->unit == OPS_PER_SEC)
				printf("%.0f ops/s\n", best);
			else
				printf("%.1f ns/op\n", best);
			fflush(stdout);
		}
	}
	return status;
}

#endif
