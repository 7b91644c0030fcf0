// Command loopbench runs the loop workloads of the shared WORKLOADS.md (first
// table) on calloop for Go, through the library's public API only, written as
// a user would write them.
//
//	loopbench [-r REPS] [-n N] [-cpuprofile F] [-memprofile F] [WORKLOAD...]
//
// For each workload it runs REPS times (default 3) and prints the best run as
//
//	BENCH <workload> go <value> <unit>
//
// on stdout, nothing else. Every run, its allocations per operation and any
// other progress go to stderr. Each run checks its own counts and sums; a
// mismatch prints FAIL on stderr and the command exits with status 1 (after
// the remaining workloads have run).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/calloop-go/calloop"
)

type unit int

const (
	opsPerSec unit = iota
	nsPerOp
)

func (u unit) String() string {
	if u == opsPerSec {
		return "ops/s"
	}
	return "ns/op"
}

func (u unit) format(v float64) string {
	if u == opsPerSec {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// result is what one run of a workload measured: ops operations in elapsed.
type result struct {
	ops     uint64
	elapsed time.Duration
	// cpu, when not zero, is the process CPU of the timed section alone,
	// for a workload whose set-up or tear-down is large next to it
	// (many-sources registers 10,000 descriptors): otherwise the CPU of
	// the whole run is reported.
	cpu time.Duration
}

// A workload runs once with parameter n and returns what it measured, or an
// error when its own checks failed.
type workload struct {
	name string
	run  func(n uint64) (result, error)
	n    uint64 // WORKLOADS.md's N
	unit unit
}

// workloads is the registry, in WORKLOADS.md order. Each lives in its own file.
var workloads = []workload{
	{"ping-pong", pingPong, 200_000, opsPerSec},
	{"channel", channel, 2_000_000, opsPerSec},
	{"timers", timers, 1_000_000, nsPerOp},
	{"timers-cancel", timersCancel, 1_000_000, nsPerOp},
	{"fd-pingpong", fdPingPong, 500_000, opsPerSec},
	{"idle-dispatch", idleDispatch, 2_000_000, nsPerOp},
	{"many-sources", manySources, 200_000, opsPerSec},
}

// verbose is loopbench -v.
var verbose bool

// loopOptions are passed to every calloop.New (set by diagnostic flags).
var loopOptions []calloop.Option

func (r result) value(u unit) float64 {
	if u == opsPerSec {
		return float64(r.ops) / r.elapsed.Seconds()
	}
	return float64(r.elapsed.Nanoseconds()) / float64(r.ops)
}

func main() {
	reps := flag.Int("r", 3, "runs per workload; the best is printed")
	nOverride := flag.Uint64("n", 0, "override N (smoke tests only)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of all runs to `file`")
	memProfile := flag.String("memprofile", "", "write an allocation profile to `file` at exit")
	memRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate (0: Go's default; 1: every allocation)")
	list := flag.Bool("list", false, "list the workloads and exit")
	netpoller := flag.String("netpoller", "", "diagnostics: \"on\" or \"off\" passes calloop.WithNetpoller (default: the library's default)")
	flag.BoolVar(&verbose, "v", false, "more progress on stderr (timers: insert and fire phases)")
	fdIO := flag.String("io", "calloop", "fd-pingpong/many-sources callbacks' reads and writes: \"calloop\" (calloop.ReadFD/WriteFD, raw system calls on Linux) or \"unix\" (unix.Read/Write; diagnostics)")
	timerFn := flag.String("timerfn", "closure", "diagnostics: timers/timers-cancel with a closure per timer (\"closure\", the workload) or one shared callback (\"shared\"; the index sum is then not checked)")
	flag.StringVar(&pingAnswer, "answer", "eventfd", "diagnostics: how ping-pong's loop answers: \"eventfd\" (blocking eventfd, as the anchors) or \"chan\" (a Go channel)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: loopbench [flags] [WORKLOAD...]\nworkloads: %s\nflags:\n", names())
		flag.PrintDefaults()
	}
	flag.Parse()
	if *list {
		fmt.Println(names())
		return
	}
	switch *netpoller {
	case "":
	case "on", "off":
		loopOptions = append(loopOptions, calloop.WithNetpoller(*netpoller == "on"))
	default:
		fatal(fmt.Errorf("-netpoller must be on or off, not %q", *netpoller))
	}
	switch *fdIO {
	case "calloop":
	case "unix":
		fdRead, fdWrite = unix.Read, unix.Write
	default:
		fatal(fmt.Errorf("-io must be calloop or unix, not %q", *fdIO))
	}
	switch *timerFn {
	case "closure":
	case "shared":
		timerFnShared = true
	default:
		fatal(fmt.Errorf("-timerfn must be closure or shared, not %q", *timerFn))
	}
	if pingAnswer != "eventfd" && pingAnswer != "chan" {
		fatal(fmt.Errorf("-answer must be eventfd or chan, not %q", pingAnswer))
	}
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	selected := flag.Args()
	if len(selected) == 0 {
		for _, w := range workloads {
			selected = append(selected, w.name)
		}
	}
	var todo []workload
	for _, name := range selected {
		w, ok := lookup(name)
		if !ok {
			fmt.Fprintf(os.Stderr, "loopbench: unknown workload %q (known: %s)\n", name, names())
			os.Exit(2)
		}
		todo = append(todo, w)
	}
	if *reps < 1 {
		*reps = 1
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer f.Close()
	}

	status := 0
	for _, w := range todo {
		n := w.n
		if *nOverride > 0 {
			n = *nOverride
		}
		best, ok := 0.0, false
		for rep := 1; rep <= *reps; rep++ {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			r, err := w.run(n)
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&after)
			if err != nil {
				fmt.Fprintf(os.Stderr, "go: FAIL: %s run %d: %v\n", w.name, rep, err)
				status = 1
				break
			}
			if r.cpu != 0 {
				cpu = r.cpu
			}
			v := r.value(w.unit)
			fmt.Fprintf(os.Stderr, "go: %s run %d: %s %s (process CPU %.0f ns/op, %.3f allocs/op, %.1f B/op, %d GC)\n",
				w.name, rep, w.unit.format(v), w.unit, float64(cpu.Nanoseconds())/float64(r.ops),
				float64(after.Mallocs-before.Mallocs)/float64(r.ops),
				float64(after.TotalAlloc-before.TotalAlloc)/float64(r.ops),
				after.NumGC-before.NumGC)
			if !ok || (w.unit == opsPerSec && v > best) || (w.unit == nsPerOp && v < best) {
				best, ok = v, true
			}
		}
		if ok {
			fmt.Printf("BENCH %s go %s %s\n", w.name, w.unit.format(best), w.unit)
		}
	}

	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fatal(err)
		}
		f.Close()
	}
	os.Exit(status)
}

// cpuTime is the process's user+system CPU time so far (all threads). Printed
// per operation on stderr: less sensitive than wall time to other processes
// on a shared machine, though not to the cache and hypervisor effects of them.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func lookup(name string) (workload, bool) {
	for _, w := range workloads {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

func names() string {
	var s []string
	for _, w := range workloads {
		s = append(s, w.name)
	}
	return strings.Join(s, " ")
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "loopbench: %v\n", err)
	os.Exit(1)
}
