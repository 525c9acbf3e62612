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

// WriteSVG plots a report: the goodput (the share of the calls started in
// each bucket of width that succeeded) of every client over time, one line
// each, with the degraded phases shaded, as a standalone SVG document.
func WriteSVG(w io.Writer, r *Report, width time.Duration) error {
	const (
		W, H          = 960, 480
		left, right   = 64, 210
		top, bottom   = 48, 56
		plotW, plotH  = W - left - right, H - top - bottom
		legendX       = W - right + 20
		legendLineLen = 22
	)
	cfg := r.Results[0].Config
	total := cfg.Total().Seconds()
	x := func(sec float64) float64 { return left + sec/total*plotW }
	y := func(v float64) float64 { return top + (1-v)*plotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left,
		esc(fmt.Sprintf("%s: goodput per %v, %.0f calls/s offered, %v deadline", r.Scenario.Name, width, cfg.Rate, cfg.Deadline)))
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555555">%s</text>`+"\n", left, esc(r.Scenario.About))

	// Phases: shaded when degraded, named at the top.
	for i, p := range cfg.Phases {
		x0, x1 := x(cfg.PhaseStart(i).Seconds()), x((cfg.PhaseStart(i) + p.Duration).Seconds())
		if p.Degraded {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f2e4e4"/>`+"\n", x0, top, x1-x0, plotH)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>`+"\n", (x0+x1)/2, top+14, esc(p.Name))
	}
	// Grid and axes.
	for v := 0.0; v <= 1.0001; v += 0.2 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n", left-6, y(v)+4, 100*v)
	}
	step := math.Max(1, math.Ceil(total/15))
	for s := 0.0; s <= total+1e-9; s += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#dddddd"/>`+"\n", x(s), top, x(s), top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", x(s), top+plotH+16, s)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333333"/>`+"\n", left, top, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">time since the run started (s)</text>`+"\n", float64(left)+plotW/2, H-14)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">calls that succeeded (goodput)</text>`+"\n", float64(top)+plotH/2)

	// One line per client, and the legend.
	for i, res := range r.Results {
		colour, stroke := "#000000", 2.5
		if i > 0 {
			colour, stroke = palette[(i-1)%len(palette)], 1.6
		}
		n, ok := Buckets(res.Calls, 0, cfg.Total(), width)
		var pts []string
		for k := range n {
			if n[k] == 0 {
				continue
			}
			mid := (float64(k) + 0.5) * width.Seconds()
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(min(mid, total)), y(float64(ok[k])/float64(n[k]))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" stroke-linejoin="round" points="%s"/>`+"\n",
			colour, stroke, strings.Join(pts, " "))
		ly := top + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.1f"/>`+"\n",
			legendX, ly, legendX+legendLineLen, ly, colour, stroke)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendX+legendLineLen+6, ly+4, esc(res.Subject))
	}
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
