// Command benchtable turns the lines collected by bench/compare into one
// table (or JSON): each workload, each implementation's value, and the
// ratios of Go to each anchor, oriented so that > 1.0 means Go is ahead.
//
//	benchtable [-json] [-svg FILE] [FILE...]   (default: standard input)
//
// With -svg it also writes a chart of the ratios (see svg.go).
//
// Input lines (anything else is ignored):
//
//	BENCH <workload> <impl> <value> <unit>
//	LAT <workload> <impl> p50=<us> p99=<us> us ...
//	META <key> <value...>
//	SKIP <workload> <impl> <reason...>
//	CPU <workload> <impl> <value> ns/op   (process CPU per operation)
//
// A workload and implementation that appear more than once keep their best
// value (highest rate, lowest ns/op), with the LAT line that followed it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// The loop workloads in WORKLOADS.md order, and the anchors Go is read against.
var (
	loopWorkloads = []string{"ping-pong", "channel", "timers", "timers-cancel", "fd-pingpong", "idle-dispatch", "many-sources"}
	loopImpls     = []string{"go", "calloop", "libuv", "epoll"}
	netWorkloads  = []string{"tcp-echo"}
	netImpls      = []string{"go", "go-stream", "gnet", "net"}
)

type value struct {
	V    float64 `json:"value"`
	Unit string  `json:"unit"`
}

type latency struct {
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
}

type data struct {
	meta    [][2]string
	values  map[string]map[string]value // workload -> impl -> value
	lat     map[string]map[string]latency
	skipped map[string]map[string]string
	cpu     map[string]map[string]float64 // workload -> impl -> process CPU ns/op
	order   []string                      // workloads in order of appearance
	// lastBetter: the last BENCH line read became its key's best value.
	lastBetter bool
}

// better reports whether a beats b: a lower ns/op, a higher rate otherwise.
func better(a, b value) bool {
	if a.Unit == "ns/op" {
		return a.V < b.V
	}
	return a.V > b.V
}

func main() {
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	svgOut := flag.String("svg", "", "also write an SVG chart of the ratios to `file`")
	flag.Parse()
	d := &data{
		values:  map[string]map[string]value{},
		lat:     map[string]map[string]latency{},
		skipped: map[string]map[string]string{},
		cpu:     map[string]map[string]float64{},
	}
	if flag.NArg() == 0 {
		d.read(os.Stdin)
	}
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		d.read(f)
		f.Close()
	}
	if *asJSON {
		d.printJSON(os.Stdout)
	} else {
		d.printTable(os.Stdout)
	}
	if *svgOut != "" {
		f, err := os.Create(*svgOut)
		if err == nil {
			err = d.writeSVG(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
}

func (d *data) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "BENCH":
			if len(f) != 5 {
				continue
			}
			v, err := strconv.ParseFloat(f[3], 64)
			if err != nil {
				continue
			}
			d.workload(f[1])
			nv := value{v, f[4]}
			old, seen := d.values[f[1]][f[2]]
			d.lastBetter = !seen || better(nv, old)
			if d.lastBetter {
				d.values[f[1]][f[2]] = nv
			}
		case "LAT":
			if len(f) < 5 {
				continue
			}
			var l latency
			for _, kv := range f[3:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					continue
				}
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					continue
				}
				switch k {
				case "p50":
					l.P50 = x
				case "p99":
					l.P99 = x
				}
			}
			d.workload(f[1])
			if _, have := d.lat[f[1]][f[2]]; !have || d.lastBetter {
				d.lat[f[1]][f[2]] = l
			}
		case "META":
			if len(f) >= 3 {
				d.meta = append(d.meta, [2]string{f[1], strings.Join(f[2:], " ")})
			}
		case "CPU":
			if len(f) == 5 {
				if v, err := strconv.ParseFloat(f[3], 64); err == nil && v > 0 {
					if d.cpu[f[1]] == nil {
						d.cpu[f[1]] = map[string]float64{}
					}
					d.cpu[f[1]][f[2]] = v
				}
			}
		case "SKIP":
			if len(f) >= 3 {
				d.workload(f[1])
				d.skipped[f[1]][f[2]] = strings.Join(f[3:], " ")
			}
		}
	}
}

func (d *data) workload(w string) {
	if _, ok := d.values[w]; !ok {
		d.values[w] = map[string]value{}
		d.lat[w] = map[string]latency{}
		d.skipped[w] = map[string]string{}
		d.order = append(d.order, w)
	}
}

// ratio is go's value over the anchor's, inverted for ns/op, so that > 1
// means go is ahead. ok is false if either value is missing.
func ratio(g, a value, gok, aok bool) (float64, bool) {
	if !gok || !aok || g.V == 0 || a.V == 0 {
		return 0, false
	}
	if g.Unit == "ns/op" {
		return a.V / g.V, true
	}
	return g.V / a.V, true
}

// groups returns the loop and network workloads present, in canonical order
// first, then any others in order of appearance.
func (d *data) groups() (loop, nw []string) {
	known := map[string]bool{}
	for _, w := range loopWorkloads {
		known[w] = true
		if _, ok := d.values[w]; ok {
			loop = append(loop, w)
		}
	}
	for _, w := range netWorkloads {
		known[w] = true
		if _, ok := d.values[w]; ok {
			nw = append(nw, w)
		}
	}
	for _, w := range d.order {
		if !known[w] {
			loop = append(loop, w)
		}
	}
	return loop, nw
}

func fmtValue(v value, ok bool) string {
	if !ok {
		return "—"
	}
	if v.Unit == "ns/op" {
		return commas(v.V, 1)
	}
	return commas(v.V, 0)
}

func fmtRatio(r float64, ok bool) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f", r)
}

// commas formats v with prec decimals and thousands separators.
func commas(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

func (d *data) printTable(w io.Writer) {
	for _, kv := range d.meta {
		fmt.Fprintf(w, "%s: %s\n", kv[0], kv[1])
	}
	if len(d.meta) > 0 {
		fmt.Fprintln(w)
	}
	loop, nw := d.groups()
	if len(loop) > 0 {
		rows := [][]string{{"workload", "unit", "go", "calloop", "libuv", "epoll", "go/calloop", "go/libuv", "go/epoll"}}
		for _, wl := range loop {
			vs := d.values[wl]
			g, gok := vs["go"]
			unit := g.Unit
			row := []string{wl, ""}
			for _, impl := range loopImpls {
				v, ok := vs[impl]
				if unit == "" && ok {
					unit = v.Unit
				}
				cell := fmtValue(v, ok)
				if _, skipped := d.skipped[wl][impl]; skipped && !ok {
					cell = "dnf"
				}
				row = append(row, cell)
			}
			row[1] = unit
			for _, impl := range loopImpls[1:] {
				a, aok := vs[impl]
				row = append(row, fmtRatio(ratio(g, a, gok, aok)))
			}
			rows = append(rows, row)
		}
		markdown(w, rows)
		fmt.Fprintln(w)
	}
	if len(nw) > 0 {
		rows := [][]string{{"workload", "impl", "req/s", "p50 µs", "p99 µs", "go/impl", "go-stream/impl"}}
		for _, wl := range nw {
			vs := d.values[wl]
			g, gok := vs["go"]
			gs, gsok := vs["go-stream"]
			for _, impl := range netImpls {
				v, ok := vs[impl]
				if !ok {
					if why, skipped := d.skipped[wl][impl]; skipped {
						rows = append(rows, []string{wl, impl, "skipped: " + why, "", "", "", ""})
					}
					continue
				}
				l, lok := d.lat[wl][impl]
				p50, p99 := "—", "—"
				if lok {
					p50, p99 = commas(l.P50, 1), commas(l.P99, 1)
				}
				r, rs := "", ""
				if impl != "go" {
					r = fmtRatio(ratio(g, v, gok, ok))
				}
				if impl != "go-stream" {
					rs = fmtRatio(ratio(gs, v, gsok, ok))
				}
				rows = append(rows, []string{wl, impl, fmtValue(v, ok), p50, p99, r, rs})
			}
		}
		markdown(w, rows)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Ratios are oriented so that > 1.00 means go is ahead (ns/op inverted). — : no BENCH line (see stderr log); dnf: the anchor gave up (did not finish).")
	if t := d.targets(); len(t) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Targets (DESIGN.md section 9), this run:")
		for _, line := range t {
			fmt.Fprintln(w, "  "+line)
		}
	}
}

// targets checks the performance targets of DESIGN.md section 9 that this
// run's figures speak to.
func (d *data) targets() []string {
	var out []string
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	line := func(wl, what string, r float64, target, ok string, note string) string {
		return strings.TrimRight(fmt.Sprintf("%-14s %-27s %7.2f  target %-7s %-8s %s", wl, what, r, target, ok, note), " ")
	}
	for _, wl := range loopWorkloads {
		vs := d.values[wl]
		g, gok := vs["go"]
		for _, a := range []string{"calloop", "libuv"} {
			if r, ok := ratio(g, vs[a], gok, hasKey(vs, a)); ok {
				out = append(out, line(wl, "go/"+a, r, ">= 1.00", mark(r >= 1), ""))
			}
		}
	}
	for _, wl := range []string{"ping-pong", "fd-pingpong", "idle-dispatch", "timers", "timers-cancel"} {
		vs := d.values[wl]
		if r, ok := ratio(vs["go"], vs["epoll"], hasKey(vs, "go"), hasKey(vs, "epoll")); ok {
			out = append(out, line(wl, "go/epoll", r, ">= 0.67", mark(r >= 1/1.5), "(within 1.5x of the floor)"))
			if wl == "ping-pong" || wl == "fd-pingpong" {
				out = append(out, line(wl, "go/epoll", r, ">= 0.80", mark(r >= 1/1.25), "(issue 14: within 1.25x of the floor)"))
			}
		}
	}
	ms, fp := d.values["many-sources"]["go"], d.values["fd-pingpong"]["go"]
	if ms.V > 0 && fp.V > 0 {
		r := ms.V / fp.V
		out = append(out, line("many-sources", "go many-sources/fd-pingpong", r, ">= 0.90", mark(r >= 0.9), "(dispatch is O(ready); wall clock, minutes apart)"))
	}
	if mc, fc := d.cpu["many-sources"]["go"], d.cpu["fd-pingpong"]["go"]; mc > 0 && fc > 0 {
		r := fc / mc
		out = append(out, line("many-sources", "go CPU/op fd-pingpong/many", r, ">= 0.90", mark(r >= 0.9), "(the same, from process CPU per op)"))
	}
	tv := d.values["tcp-echo"]
	for _, impl := range []string{"go", "go-stream"} {
		if r, ok := ratio(tv[impl], tv["gnet"], hasKey(tv, impl), hasKey(tv, "gnet")); ok {
			out = append(out, line("tcp-echo", impl+"/gnet", r, ">= 1.00", mark(r >= 1), ""))
		}
	}
	return out
}

// markdown prints rows as a Markdown table with aligned columns; numbers are
// right-aligned.
func markdown(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for ri, r := range rows {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i >= 2 {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
		if ri == 0 {
			b.Reset()
			b.WriteString("|")
			for i := range r {
				if i >= 2 {
					b.WriteString(strings.Repeat("-", width[i]+1) + ":|")
				} else {
					b.WriteString(strings.Repeat("-", width[i]+2) + "|")
				}
			}
			fmt.Fprintln(w, b.String())
		}
	}
}

type jsonRow struct {
	Workload string             `json:"workload"`
	Unit     string             `json:"unit"`
	Values   map[string]float64 `json:"values"`
	Ratios   map[string]float64 `json:"ratios"`
	Latency  map[string]latency `json:"latency,omitempty"`
	Skipped  map[string]string  `json:"skipped,omitempty"`
}

func (d *data) printJSON(w io.Writer) {
	meta := map[string]string{}
	for _, kv := range d.meta {
		meta[kv[0]] = kv[1]
	}
	loop, nw := d.groups()
	build := func(wls []string, anchors []string) []jsonRow {
		out := []jsonRow{}
		for _, wl := range wls {
			vs := d.values[wl]
			g, gok := vs["go"]
			row := jsonRow{Workload: wl, Values: map[string]float64{}, Ratios: map[string]float64{}}
			for impl, v := range vs {
				if math.IsNaN(v.V) {
					continue
				}
				row.Values[impl] = v.V
				if row.Unit == "" || impl == "go" {
					row.Unit = v.Unit
				}
			}
			for _, impl := range anchors {
				if r, ok := ratio(g, vs[impl], gok, hasKey(vs, impl)); ok {
					row.Ratios["go/"+impl] = r
				}
			}
			if gs, ok := vs["go-stream"]; ok && len(anchors) > 0 && anchors[0] == "go-stream" {
				for _, impl := range anchors[1:] {
					if r, ok := ratio(gs, vs[impl], true, hasKey(vs, impl)); ok {
						row.Ratios["go-stream/"+impl] = r
					}
				}
			}
			if len(d.lat[wl]) > 0 {
				row.Latency = d.lat[wl]
			}
			if len(d.skipped[wl]) > 0 {
				row.Skipped = d.skipped[wl]
			}
			out = append(out, row)
		}
		return out
	}
	doc := map[string]any{
		"targets":         d.targets(),
		"meta":            meta,
		"loop":            build(loop, loopImpls[1:]),
		"network":         build(nw, netImpls[1:]),
		"ratio_direction": "go relative to impl; > 1.0 means go is ahead (ns/op inverted)",
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
}

func hasKey(m map[string]value, k string) bool {
	_, ok := m[k]
	return ok
}
