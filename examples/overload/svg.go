package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// palette colours the wrappers' lines; the bare client's is black.
var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"}

// WriteSVG plots a report as a standalone SVG document: one panel per
// client, stacked on one time axis, each with the client's goodput (the
// share of the calls started in each bucket of width that succeeded) as a
// line, the bare client's as a grey dashed line for reference, and the
// degraded phases shaded. Stacked panels keep apart lines that one chart
// would draw on top of each other (most clients sit at 0% or 100% most
// of the time).
func WriteSVG(w io.Writer, r *Report, width time.Duration) error {
	const (
		W            = 960
		left, right  = 64, 24
		top, bottom  = 88, 52
		panelH, gap  = 64, 26
		plotW        = W - left - right
		bareColour   = "#000000"
		bareRefColor = "#9a9a9a"
	)
	cfg := r.Results[0].Config
	total := cfg.Total().Seconds()
	n := len(r.Results)
	H := top + n*panelH + (n-1)*gap + bottom
	x := func(sec float64) float64 { return left + sec/total*plotW }

	series := func(res *Result, y func(float64) float64) string {
		calls, ok := Buckets(res.Calls, 0, cfg.Total(), width)
		var pts []string
		for k := range calls {
			if calls[k] == 0 {
				continue
			}
			mid := (float64(k) + 0.5) * width.Seconds()
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(min(mid, total)), y(float64(ok[k])/float64(calls[k]))))
		}
		return strings.Join(pts, " ")
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left,
		esc(fmt.Sprintf("%s: goodput per %v, %.0f calls/s offered, %v deadline per call", r.Scenario.Name, width, cfg.Rate, cfg.Deadline)))
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#555555">%s</text>`+"\n", left, esc(r.Scenario.About))
	// The legend.
	fmt.Fprintf(&b, `<line x1="%d" y1="55" x2="%d" y2="55" stroke="%s" stroke-width="2.2"/>`+"\n", left, left+22, palette[0])
	fmt.Fprintf(&b, `<text x="%d" y="59">the panel's client</text>`+"\n", left+28)
	fmt.Fprintf(&b, `<line x1="%d" y1="55" x2="%d" y2="55" stroke="%s" stroke-width="1.4" stroke-dasharray="4 3"/>`+"\n", left+160, left+182, bareRefColor)
	fmt.Fprintf(&b, `<text x="%d" y="59">the bare client (one attempt, no wrapper), for reference</text>`+"\n", left+188)
	fmt.Fprintf(&b, `<rect x="%d" y="48" width="22" height="12" fill="#f2e4e4"/>`+"\n", left+560)
	fmt.Fprintf(&b, `<text x="%d" y="59">the service degraded</text>`+"\n", left+588)

	for i, res := range r.Results {
		y0 := float64(top + i*(panelH+gap))
		y := func(v float64) float64 { return y0 + (1-v)*panelH }
		colour := bareColour
		if i > 0 {
			colour = palette[(i-1)%len(palette)]
		}
		for j, p := range cfg.Phases {
			x0, x1 := x(cfg.PhaseStart(j).Seconds()), x((cfg.PhaseStart(j) + p.Duration).Seconds())
			if p.Degraded {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#f2e4e4"/>`+"\n", x0, y0, x1-x0, panelH)
			}
			if i == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">%s</text>`+"\n", (x0+x1)/2, y0-6, esc(p.Name))
			}
		}
		for _, v := range []float64{0, 0.5, 1} {
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>`+"\n", left, y(v), left+plotW, y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="10">%.0f%%</text>`+"\n", left-5, y(v)+3.5, 100*v)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#888888"/>`+"\n", left, y0, plotW, panelH)
		if i > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.4" stroke-dasharray="4 3" points="%s"/>`+"\n",
				bareRefColor, series(r.Results[0], y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.2" stroke-linejoin="round" points="%s"/>`+"\n",
			colour, series(res, y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-weight="bold" fill="%s">%s</text>`+"\n", left+6, y0+13, colour, esc(res.Subject))
	}
	// The time axis, under the last panel.
	axisY := top + n*panelH + (n-1)*gap
	step := math.Max(1, math.Ceil(total/15))
	for s := 0.0; s <= total+1e-9; s += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888888"/>`+"\n", x(s), axisY, x(s), axisY+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x(s), axisY+17, s)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">time since the run started (s)</text>`+"\n", float64(left)+plotW/2, H-12)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">goodput: calls that succeeded, per %v</text>`+"\n",
		float64(top)+float64(axisY-top)/2, width)
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// esc escapes s for XML text and attributes.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
