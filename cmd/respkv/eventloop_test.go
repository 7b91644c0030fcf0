package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// infoStats returns the integer fields of INFO stats.
func infoStats(t *testing.T, addr string) map[string]int64 {
	t.Helper()
	rdb := newClient(t, addr, 2)
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, l := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	return out
}

// INFO stats reports the loop's figures under Redis 7.2's names, and they
// move: cycles and durations grow with traffic, and the sampler's
// instantaneous rate becomes positive.
func TestInfoEventloop(t *testing.T) {
	addr := startServer(t, Config{})
	first := infoStats(t, addr)
	for _, k := range []string{"eventloop_cycles", "eventloop_duration_sum", "eventloop_duration_cmd_sum",
		"instantaneous_eventloop_cycles_per_sec", "instantaneous_eventloop_duration_usec"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("INFO stats has no %s: %v", k, first)
		}
	}
	if first["eventloop_cycles"] <= 0 {
		t.Fatalf("eventloop_cycles %d", first["eventloop_cycles"])
	}
	rdb := newClient(t, addr, 2)
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for i := range 50 {
			if err := rdb.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		now := infoStats(t, addr)
		if now["eventloop_cycles"] > first["eventloop_cycles"]+50 &&
			now["eventloop_duration_sum"] > first["eventloop_duration_sum"] &&
			now["eventloop_duration_cmd_sum"] > first["eventloop_duration_cmd_sum"] &&
			now["instantaneous_eventloop_cycles_per_sec"] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("figures did not move: before %v, after %v", first, now)
		}
	}
}

// Without a loop (the command core alone) the fields are there, at zero.
func TestInfoEventloopNoLoop(t *testing.T) {
	k := newCore(t)
	out := k.do("INFO stats")
	if !strings.Contains(out, "eventloop_cycles:0") {
		t.Fatalf("INFO stats: %s", out)
	}
}
