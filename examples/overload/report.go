package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// RecoveryShare is the share of calls that must succeed, in every bucket
// from some point on, for a client to count as recovered.
const RecoveryShare = 0.95

// PhaseStats is what the calls that started in one phase did.
type PhaseStats struct {
	Name     string
	Duration time.Duration
	// MaxAttempts is the client's attempts per call (Result.MaxAttempts).
	MaxAttempts int
	Calls       int // calls offered (started) in the phase
	OK          int // of which succeeded
	Attempts    int // requests of those calls the server received
	Limited     int // of which it answered 429
	OpenSends   int // requests of those calls sent while the breaker was open
	P99         time.Duration
	Openings    int // breaker openings during the phase
	// Breaker is false for the bare client; then WasOpen says whether the
	// breaker was open at any moment of the phase, and End is its state
	// at the phase's end.
	Breaker bool
	WasOpen bool
	End     runtime.State
	Errors  [numKinds]int
	// Returned phases only: how long after the phase's start the calls
	// succeeded again (Recovered false: they never did, within the phase).
	Returned  bool
	Recovered bool
	Recovery  time.Duration
}

// Goodput returns the share of the phase's calls that succeeded.
func (s PhaseStats) Goodput() float64 { return ratio(s.OK, s.Calls) }

// AttemptsPerCall returns the requests the server received per call.
func (s PhaseStats) AttemptsPerCall() float64 { return ratio(s.Attempts, s.Calls) }

// LimitedShare returns the share of the phase's attempts answered 429.
func (s PhaseStats) LimitedShare() float64 { return ratio(s.Limited, s.Attempts) }

// SuccessRate returns the phase's successful calls a second.
func (s PhaseStats) SuccessRate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.OK) / s.Duration.Seconds()
}

// AttemptRate returns the requests a second the server received for the
// phase's calls.
func (s PhaseStats) AttemptRate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Attempts) / s.Duration.Seconds()
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Analyze splits a run's calls by the phase they started in.
func Analyze(r *Result, bucket time.Duration) []PhaseStats {
	cfg := r.Config
	out := make([]PhaseStats, len(cfg.Phases))
	lat := make([][]time.Duration, len(cfg.Phases))
	for i, p := range cfg.Phases {
		out[i].Name, out[i].Duration, out[i].Returned = p.Name, p.Duration, p.Returned
		out[i].MaxAttempts = r.MaxAttempts
	}
	for _, c := range r.Calls {
		i := cfg.PhaseAt(c.At)
		s := &out[i]
		s.Calls++
		s.Attempts += c.Attempts
		s.Limited += c.Limited
		s.OpenSends += c.OpenSends
		s.Errors[c.Kind]++
		if c.Kind == OK {
			s.OK++
			lat[i] = append(lat[i], c.Latency)
		}
	}
	for i := range out {
		out[i].Breaker = r.Breaker
	}
	state := runtime.StateClosed
	next := 0 // the first change after the phase's start
	for i := range out {
		start, end := cfg.PhaseStart(i), cfg.PhaseStart(i)+cfg.Phases[i].Duration
		for next < len(r.Changes) && r.Changes[next].At < start {
			state = r.Changes[next].To
			next++
		}
		out[i].WasOpen = state == runtime.StateOpen
		for next < len(r.Changes) && (r.Changes[next].At < end || i == len(out)-1) {
			state = r.Changes[next].To
			if state == runtime.StateOpen {
				out[i].Openings++
				out[i].WasOpen = true
			}
			next++
		}
		out[i].End = state
	}
	for i := range out {
		out[i].P99 = Percentile(lat[i], 0.99)
		if out[i].Returned {
			calls, ok := Buckets(r.Calls, cfg.PhaseStart(i), cfg.Phases[i].Duration, bucket)
			out[i].Recovery, out[i].Recovered = RecoveryTime(calls, ok, bucket, RecoveryShare)
		}
	}
	return out
}

// Percentile returns the p-th quantile (0 < p ≤ 1) of d, by the nearest
// rank; zero for no values. It sorts d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	rank := int(float64(len(d))*p+0.999999) - 1
	return d[min(max(rank, 0), len(d)-1)]
}

// Buckets counts the calls that started in [from, from+length), and those
// of them that succeeded, per bucket of the given width.
func Buckets(calls []Call, from, length, width time.Duration) (n, ok []int) {
	nb := int((length + width - 1) / width)
	n, ok = make([]int, nb), make([]int, nb)
	for _, c := range calls {
		if c.At < from || c.At >= from+length {
			continue
		}
		b := int((c.At - from) / width)
		n[b]++
		if c.Kind == OK {
			ok[b]++
		}
	}
	return n, ok
}

// RecoveryTime returns the start of the first bucket from which, in every
// bucket to the end of the series, at least share of the calls succeeded
// (buckets without calls do not count against it), and whether there is
// one: false means the calls had not recovered by the end.
func RecoveryTime(calls, ok []int, width time.Duration, share float64) (time.Duration, bool) {
	first := len(calls)
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i] > 0 && float64(ok[i]) < share*float64(calls[i]) {
			break
		}
		first = i
	}
	if first == len(calls) {
		return 0, false
	}
	return time.Duration(first) * width, true
}

// Target is one of resgen's overload targets, judged for one profile's
// run against the bare client's run of the same scenario.
type Target struct {
	Name  string
	Judge func(s, bare []PhaseStats) (value string, pass bool)
}

// Report is a scenario's runs, analyzed.
type Report struct {
	Scenario *Scenario
	Bucket   time.Duration
	Results  []*Result      // the bare client first
	Stats    [][]PhaseStats // per result
}

// NewReport analyzes a scenario's results; the first is the bare
// client's.
func NewReport(sc *Scenario, results []*Result, bucket time.Duration) *Report {
	r := &Report{Scenario: sc, Bucket: bucket, Results: results}
	for _, res := range results {
		r.Stats = append(r.Stats, Analyze(res, bucket))
	}
	return r
}

// Verdict is one target judged for one profile.
type Verdict struct {
	Subject, Target, Value string
	Pass                   bool
}

// Verdicts judges every target for every wrapper of the report.
func (r *Report) Verdicts() []Verdict {
	var out []Verdict
	for i := 1; i < len(r.Results); i++ {
		for _, t := range r.Scenario.Targets {
			v, ok := t.Judge(r.Stats[i], r.Stats[0])
			out = append(out, Verdict{Subject: r.Results[i].Subject, Target: t.Name, Value: v, Pass: ok})
		}
	}
	return out
}

// Print writes the report's table and its targets' verdicts, in plain
// lines.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tphase\tcalls\tgoodput\tx bare\tattempts/call\tp99 ok\topenings\tbreaker at end\trecovery\t429 share\tsent while open\tends (calls)\t")
	bare := r.Stats[0]
	for i, res := range r.Results {
		for j, s := range r.Stats[i] {
			xbare, opens, endState, sentOpen, rec := "-", "-", "-", "-", "-"
			if bg := bare[j].Goodput(); bg > 0 {
				xbare = fmt.Sprintf("%.2f", s.Goodput()/bg)
			}
			if s.Breaker {
				opens, endState, sentOpen = fmt.Sprint(s.Openings), strings.ToLower(s.End.String()), fmt.Sprint(s.OpenSends)
			}
			if s.Returned {
				rec = recovery(s)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%s\t%.2f\t%s\t%s\t%s\t%s\t%.3f\t%s\t%s\t\n",
				res.Subject, s.Name, s.Calls, s.Goodput(), xbare, s.AttemptsPerCall(), ms(s.P99),
				opens, endState, rec, s.LimitedShare(), sentOpen, ends(s.Errors))
		}
	}
	tw.Flush()
	for _, res := range r.Results {
		if res.Other != "" {
			fmt.Fprintf(w, "%s: first other error: %s\n", res.Subject, res.Other)
		}
	}
	if len(r.Scenario.Targets) == 0 || len(r.Results) < 2 {
		return
	}
	fmt.Fprintln(w, "targets:")
	for _, t := range r.Scenario.Targets {
		fmt.Fprintf(w, "  %s\n", t.Name)
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "profile\t")
	for k := range r.Scenario.Targets {
		fmt.Fprintf(tw, "target %d\t", k+1)
	}
	fmt.Fprintln(tw)
	verdicts := r.Verdicts()
	nt := len(r.Scenario.Targets)
	for i := 0; i < len(verdicts); i += nt {
		fmt.Fprintf(tw, "%s\t", verdicts[i].Subject)
		for _, v := range verdicts[i : i+nt] {
			fmt.Fprintf(tw, "%s %s\t", passFail(v.Pass), v.Value)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func recovery(s PhaseStats) string {
	if !s.Recovered {
		return "never"
	}
	return fmt.Sprintf("%.1fs", s.Recovery.Seconds())
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// ends lists how the calls that failed ended, most first.
func ends(e [numKinds]int) string {
	var parts []string
	kinds := []ErrKind{Deadline, CircuitOpen, Unavailable, TooMany, OtherErr}
	slices.SortStableFunc(kinds, func(a, b ErrKind) int { return e[b] - e[a] })
	for _, k := range kinds {
		if e[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, e[k]))
		}
	}
	if len(parts) == 0 {
		return "all ok"
	}
	return strings.Join(parts, ", ")
}

// PrintSeries writes each client's goodput per bucket of width, in
// percent, one line per client.
func (r *Report) PrintSeries(w io.Writer, width time.Duration) {
	fmt.Fprintf(w, "goodput per %v (%%):\n", width)
	for _, res := range r.Results {
		n, ok := Buckets(res.Calls, 0, res.Config.Total(), width)
		var b strings.Builder
		for k := range n {
			if n[k] == 0 {
				b.WriteString("   -")
				continue
			}
			fmt.Fprintf(&b, " %3.0f", 100*ratio(ok[k], n[k]))
		}
		fmt.Fprintf(w, "  %-20s%s\n", res.Subject, b.String())
	}
}

// warnNoise says so when the bare client's calls ran out of time while
// the pool was at full size (other than in a scenario whose deep queue
// makes them wait past their deadline): at 80% of capacity none does on
// an idle machine, so the machine was too busy for the run's figures to
// be trusted.
func (r *Report) warnNoise(w io.Writer) {
	if r.Scenario.DeepQueue {
		return
	}
	cfg := r.Results[0].Config
	for j, s := range r.Stats[0] {
		if cfg.Phases[j].Workers == 0 && ratio(s.Errors[Deadline], s.Calls) > 0.01 {
			fmt.Fprintf(w, "warning: %.1f%% of the bare client's calls ran out of time in phase %s, with the pool at full size: the machine was busy, the figures are noisy\n",
				100*ratio(s.Errors[Deadline], s.Calls), s.Name)
		}
	}
}
