package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The chart: one group of horizontal bars per workload, one bar per ratio
// (go/calloop, go/libuv, go/epoll for the loop workloads; go/gnet and
// go-stream/gnet for tcp-echo), on a logarithmic axis because the ratios run
// from ~0.3 to ~1000. A solid line marks 1.0 (parity: right of it we are
// ahead) and a dashed line 1/1.5 (the "within 1.5x of the floor" target for
// the go/epoll bars). Ratios beyond the axis are drawn to its end with their
// value written out.

const (
	svgLeft     = 150.0 // room for the workload names
	svgPlotW    = 520.0
	svgRight    = 150.0
	svgBarH     = 11.0
	svgBarGap   = 2.0
	svgGroupGap = 12.0
	svgTop      = 76.0
	svgMinR     = 0.1
	svgMaxR     = 100.0
)

var svgColors = map[string]string{
	"go/calloop":     "#4c78a8",
	"go/libuv":       "#f58518",
	"go/epoll":       "#54a24b",
	"go/gnet":        "#b279a2",
	"go-stream/gnet": "#e45756",
}

type svgBar struct {
	label string
	r     float64
	note  string // "dnf" etc. when there is no ratio
}

type svgGroup struct {
	workload string
	bars     []svgBar
}

func svgX(r float64) float64 {
	r = math.Min(math.Max(r, svgMinR), svgMaxR)
	return svgLeft + svgPlotW*(math.Log10(r)-math.Log10(svgMinR))/(math.Log10(svgMaxR)-math.Log10(svgMinR))
}

// chartGroups collects the ratios of this run in table order.
func (d *data) chartGroups() []svgGroup {
	loop, nw := d.groups()
	var gs []svgGroup
	for _, wl := range loop {
		vs := d.values[wl]
		g, gok := vs["go"]
		grp := svgGroup{workload: wl}
		for _, a := range loopImpls[1:] {
			b := svgBar{label: "go/" + a}
			if r, ok := ratio(g, vs[a], gok, hasKey(vs, a)); ok {
				b.r = r
			} else if _, skipped := d.skipped[wl][a]; skipped {
				b.note = "dnf"
			} else {
				b.note = "—"
			}
			grp.bars = append(grp.bars, b)
		}
		gs = append(gs, grp)
	}
	for _, wl := range nw {
		vs := d.values[wl]
		grp := svgGroup{workload: wl}
		for _, impl := range []string{"go", "go-stream"} {
			b := svgBar{label: impl + "/gnet"}
			if r, ok := ratio(vs[impl], vs["gnet"], hasKey(vs, impl), hasKey(vs, "gnet")); ok {
				b.r = r
			} else {
				b.note = "—"
			}
			grp.bars = append(grp.bars, b)
		}
		gs = append(gs, grp)
	}
	return gs
}

// writeSVG draws the chart of this run's ratios.
func (d *data) writeSVG(w io.Writer) error {
	groups := d.chartGroups()
	h := svgTop
	for _, g := range groups {
		h += float64(len(g.bars))*(svgBarH+svgBarGap) + svgGroupGap
	}
	plotBottom := h
	h += 58
	width := svgLeft + svgPlotW + svgRight

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n", width, h, width, h)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title := "calloop for Go: ratio to each anchor (> 1: ours is ahead; log scale)"
	p(`<text x="%.0f" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", 10.0, html.EscapeString(title))
	var line1, line2 []string
	for _, kv := range d.meta {
		switch kv[0] {
		case "date", "library", "pinning":
			line1 = append(line1, kv[0]+": "+kv[1])
		case "machine":
			line2 = append(line2, kv[1])
		case "load":
			v, _, _ := strings.Cut(kv[1], " (") // drop the "(1, 5, 15 min; ...)" note
			line2 = append(line2, v)
		}
	}
	p(`<text x="10" y="34" fill="#555">%s</text>`+"\n", html.EscapeString(strings.Join(line1, "; ")))
	p(`<text x="10" y="48" fill="#555">%s</text>`+"\n", html.EscapeString(strings.Join(line2, "; ")))

	// Grid and axis labels.
	for _, r := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100} {
		x := svgX(r)
		p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#e6e6e6"/>`+"\n", x, svgTop-6, x, plotBottom)
		p(`<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x, plotBottom+14, trimFloat(r))
	}
	// Bars.
	y := svgTop
	for _, g := range groups {
		gh := float64(len(g.bars))*(svgBarH+svgBarGap) - svgBarGap
		p(`<text x="%.0f" y="%.1f" text-anchor="end" font-weight="bold">%s</text>`+"\n", svgLeft-8, y+gh/2+4, html.EscapeString(g.workload))
		for _, bar := range g.bars {
			color := svgColors[bar.label]
			if color == "" {
				color = "#888"
			}
			if bar.note != "" {
				p(`<text x="%.1f" y="%.1f" fill="#777">%s %s</text>`+"\n", svgLeft+4, y+svgBarH-2, html.EscapeString(bar.label), html.EscapeString(bar.note))
			} else {
				x0, x1 := svgX(svgMinR), svgX(bar.r)
				p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"><title>%s %.2f</title></rect>`+"\n",
					x0, y, math.Max(x1-x0, 1), svgBarH, color, html.EscapeString(g.workload+" "+bar.label), bar.r)
				label := fmt.Sprintf("%.2f", bar.r)
				if bar.r >= 10 {
					label = fmt.Sprintf("%.0f", bar.r)
				}
				if bar.r > svgMaxR {
					label += " (off scale)"
				}
				p(`<text x="%.1f" y="%.1f" fill="#333">%s</text>`+"\n", x1+3, y+svgBarH-2, label)
			}
			y += svgBarH + svgBarGap
		}
		y += svgGroupGap - svgBarGap
	}
	// The 1.0 line and the floor target.
	x1 := svgX(1)
	p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="black" stroke-width="1.5"/>`+"\n", x1, svgTop-10, x1, plotBottom)
	p(`<text x="%.1f" y="%.0f">1.0 = parity</text>`+"\n", x1+3, svgTop-13)
	xf := svgX(1 / 1.5)
	p(`<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#54a24b" stroke-width="1.5" stroke-dasharray="5,3"/>`+"\n", xf, svgTop-10, xf, plotBottom)
	p(`<text x="%.1f" y="%.0f" text-anchor="end" fill="#54a24b">floor target 0.67</text>`+"\n", xf-3, svgTop-13)
	// Legend.
	lx, ly := svgLeft, plotBottom+32
	for _, lbl := range []string{"go/calloop", "go/libuv", "go/epoll", "go/gnet", "go-stream/gnet"} {
		p(`<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/>`+"\n", lx, ly-9, svgColors[lbl])
		p(`<text x="%.0f" y="%.0f">%s</text>`+"\n", lx+14, ly, lbl)
		lx += 14 + float64(len(lbl))*6.5 + 16
	}
	p(`<text x="%.0f" y="%.0f" fill="#555">epoll = the hand-written C floor; bars right of the dashed line are within 1.5x of it. dnf: the anchor did not finish.</text>`+"\n", 10.0, ly+18)
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%g", v)
	return s
}
