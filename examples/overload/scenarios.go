package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// Scenario is one story of the service's capacity, run with every
// client.
type Scenario struct {
	Name  string
	About string
	Load  LoadConfig
	// Options apply to every wrapper of the scenario, after the harness's
	// own (and before the -set flags').
	Options []runtime.Option
	Targets []Target
	// DeepQueue says that calls wait past their deadline by design, not
	// because the machine is busy.
	DeepQueue bool
}

// Params are the scenarios' knobs: the command's flags.
type Params struct {
	Rate           float64
	Even           bool
	Deadline       time.Duration
	Workers        int
	ReducedWorkers int
	Queue          int
	DeepQueue      int
	ServiceTime    time.Duration
	Before         time.Duration
	During         time.Duration
	After          time.Duration
	AttemptTimeout time.Duration // deepqueue's per-attempt timeout
	FailRate       float64       // random's
	// RandomRate and RandomDeadline are random's offered load and deadline:
	// it measures whether retries carry calls through random failures,
	// which takes the time of the profiles' backoff (2s before the first
	// retry of api) and a server with room for the retries (at 80% of its
	// capacity, the 25% that retries add would fill it, which is
	// brownout's subject, not noise).
	RandomRate     float64
	RandomDeadline time.Duration
	ServerLimit    float64 // slowlimit's, requests a second
	HTTP2          bool    // h2c instead of HTTP/1.1
	Seed           uint64
}

// DefaultParams are the scenarios as resgen's overload targets are
// stated: 1600 calls/s offered to 8 workers of 4ms (2000/s), a 250ms
// deadline per call, 3s before the fault, 5s of it, 5s after.
func DefaultParams() Params {
	return Params{
		Rate: 1600, Deadline: 250 * time.Millisecond,
		Workers: 8, ReducedWorkers: 4, Queue: 64, DeepQueue: 1024, ServiceTime: 4 * time.Millisecond,
		Before: 3 * time.Second, During: 5 * time.Second, After: 5 * time.Second,
		AttemptTimeout: 100 * time.Millisecond, FailRate: 0.2, ServerLimit: 1000,
		RandomRate: 1200, RandomDeadline: time.Minute,
	}
}

// Capacity returns the server's requests a second with n workers.
func (p Params) Capacity(n int) float64 {
	return float64(n) / p.ServiceTime.Seconds()
}

// ScenarioNames lists the scenarios in the order they run.
var ScenarioNames = []string{"brownout", "deepqueue", "outage", "random", "slowlimit"}

// Scenarios returns the named scenarios with p's knobs.
func Scenarios(p Params, names []string) ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range names {
		sc := p.scenario(n)
		if sc == nil {
			return nil, fmt.Errorf("unknown scenario %q (want %s, or all)", n, strings.Join(ScenarioNames, ", "))
		}
		out = append(out, sc)
	}
	return out, nil
}

func (p Params) load(queue int, phases ...Phase) LoadConfig {
	return LoadConfig{
		Rate: p.Rate, Even: p.Even, Deadline: p.Deadline, Seed: p.Seed,
		Server: ServerConfig{Workers: p.Workers, Queue: queue, ServiceTime: p.ServiceTime, HTTP2: p.HTTP2},
		Phases: phases,
	}
}

// drop is before, during (a degraded phase) and after.
func (p Params) drop(during Phase) []Phase {
	during.Name, during.Duration, during.Degraded = "during", p.During, true
	return []Phase{
		{Name: "before", Duration: p.Before},
		during,
		{Name: "after", Duration: p.After, Returned: true},
	}
}

func (p Params) scenario(name string) *Scenario {
	reduced := Phase{Workers: p.ReducedWorkers}
	share := p.Capacity(p.ReducedWorkers) / p.Rate
	switch name {
	case "brownout":
		return &Scenario{
			Name: name,
			About: fmt.Sprintf("the pool drops to %d of %d workers (%.0f/s, %.0f%% of the offered load) for %v",
				p.ReducedWorkers, p.Workers, p.Capacity(p.ReducedWorkers), 100*share, p.During),
			Load: p.load(p.Queue, p.drop(reduced)...),
			Targets: []Target{
				goodputVsBare(0.95),
				attemptsPerCall(1.3),
				recoveredWithin(time.Second),
			},
		}
	case "deepqueue":
		return &Scenario{
			Name: name,
			About: fmt.Sprintf("as brownout, with a queue of %d (waits past the deadline) and a per-attempt timeout of %v in every wrapper",
				p.DeepQueue, p.AttemptTimeout),
			Load:      p.load(p.DeepQueue, p.drop(reduced)...),
			Options:   []runtime.Option{runtime.WithConfig(runtime.Settings{{Policy: "timeout", Key: "duration", Value: p.AttemptTimeout.String()}})},
			Targets:   []Target{recoveredWithin(2 * time.Second)},
			DeepQueue: true,
		}
	case "outage":
		return &Scenario{
			Name:  name,
			About: fmt.Sprintf("the server answers every request 503 at once for %v", p.During),
			Load:  p.load(p.Queue, p.drop(Phase{Fault: Fault{Down: true}})...),
			Targets: []Target{
				opensDuringOutage(),
				onlyProbesWhileOpen(0.01),
				recoveredInPhase(),
			},
		}
	case "random":
		load := p.load(p.Queue, Phase{
			Name: "all", Duration: p.Before + p.During + p.After,
			Fault: Fault{FailRate: p.FailRate}, Degraded: true,
		})
		load.Rate, load.Deadline = p.RandomRate, p.RandomDeadline
		return &Scenario{
			Name: name,
			About: fmt.Sprintf("%.0f%% of requests fail at random with 503, the whole run; %.0f calls/s (%.0f%% of capacity), a %v deadline, so that the profiles' backoff fits",
				100*p.FailRate, p.RandomRate, 100*p.RandomRate/p.Capacity(p.Workers), p.RandomDeadline),
			Load:    load,
			Targets: []Target{retriesCarry(p.FailRate, 0.995), breakerStaysClosed()},
		}
	case "slowlimit":
		limit := Fault{RateLimit: p.ServerLimit}
		return &Scenario{
			Name: name,
			About: fmt.Sprintf("the server admits %.0f requests/s (%.0f%% of the offered load), 429 + Retry-After: 1 beyond, the whole run; the wrappers' rate limit on at %.0f/s, as shipped otherwise (adaptive)",
				p.ServerLimit, 100*p.ServerLimit/p.Rate, 2*p.ServerLimit),
			Load: p.load(p.Queue,
				Phase{Name: "converging", Duration: p.Before + p.During, Fault: limit, Degraded: true},
				Phase{Name: "converged", Duration: p.After, Fault: limit, Degraded: true},
			),
			// The client's own rate limit on, at twice the server's limit:
			// what the profiles' adaptive rate limit must find.
			Options: []runtime.Option{runtime.WithConfig(runtime.Settings{
				{Policy: "rate_limit", Key: "max_requests_per_minute", Value: fmt.Sprint(int(2 * 60 * p.ServerLimit))},
				{Policy: "rate_limit", Key: "burst_size", Value: fmt.Sprint(max(int(p.ServerLimit/10), 1))},
			})},
			Targets: []Target{successRateNearLimit(p.ServerLimit, 0.1), limitedShare(0.01)},
		}
	}
	return nil
}

// phaseWhere returns the index of the first phase with the property, or
// -1.
func phaseWhere(s []PhaseStats, f func(PhaseStats) bool) int {
	for i := range s {
		if f(s[i]) {
			return i
		}
	}
	return -1
}

// degraded is the phase after "before" in the drop scenarios.
func degraded(s []PhaseStats) int {
	return phaseWhere(s, func(p PhaseStats) bool { return p.Name == "during" })
}

func returned(s []PhaseStats) int {
	return phaseWhere(s, func(p PhaseStats) bool { return p.Returned })
}

func goodputVsBare(least float64) Target {
	return Target{
		Name: fmt.Sprintf("goodput while capacity is reduced at least %.2fx the bare client's", least),
		Judge: func(s, bare []PhaseStats) (string, bool) {
			d := degraded(s)
			bg := bare[d].Goodput()
			if bg == 0 {
				return "no bare goodput", false
			}
			r := s[d].Goodput() / bg
			return fmt.Sprintf("%.2fx", r), r >= least
		},
	}
}

func attemptsPerCall(limit float64) Target {
	return Target{
		Name: fmt.Sprintf("at most %.1f attempts per call (the worst phase)", limit),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			worst := 0.0
			for _, p := range s {
				worst = max(worst, p.AttemptsPerCall())
			}
			return fmt.Sprintf("%.2f", worst), worst <= limit
		},
	}
}

func recoveredWithin(d time.Duration) Target {
	return Target{
		Name: fmt.Sprintf("%.0f%% of calls succeed again within %v of capacity returning", 100*RecoveryShare, d),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			p := s[returned(s)]
			return recovery(p), p.Recovered && p.Recovery <= d
		},
	}
}

func recoveredInPhase() Target {
	return Target{
		Name: fmt.Sprintf("it closes after the service returns: %.0f%% of calls succeed again before the run ends", 100*RecoveryShare),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			p := s[returned(s)]
			return recovery(p), p.Recovered
		},
	}
}

func opensDuringOutage() Target {
	return Target{
		Name: "the breaker is open during the outage",
		Judge: func(s, _ []PhaseStats) (string, bool) {
			p := s[degraded(s)]
			switch {
			case p.Openings > 0:
				return fmt.Sprintf("opened %d times", p.Openings), true
			case p.WasOpen:
				return "open before it began", true
			}
			return "never open", false
		},
	}
}

func onlyProbesWhileOpen(share float64) Target {
	return Target{
		Name: fmt.Sprintf("nothing but probes while open: requests sent while the breaker is open at most %.0f%% of the outage's calls", 100*share),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			sent, calls := 0, s[degraded(s)].Calls
			for _, p := range s {
				sent += p.OpenSends
			}
			return fmt.Sprintf("%d sent", sent), float64(sent) <= share*float64(calls)
		},
	}
}

// retriesCarry is random's first target: at least least of the calls
// succeed, or, for a client whose max_attempts cannot get there when each
// attempt fails independently with probability fail, what they can less
// half a point (1 − fail^n: 99.2% for three attempts at 20%).
func retriesCarry(fail, least float64) Target {
	return Target{
		Name: fmt.Sprintf("at least %.1f%% of calls succeed, or what max_attempts allows (1 - %.2f^n) less half a point", 100*least, fail),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			ok, n, attempts := 0, 0, 1
			for _, p := range s {
				ok, n, attempts = ok+p.OK, n+p.Calls, max(attempts, p.MaxAttempts)
			}
			want := least
			if reach := 1 - math.Pow(fail, float64(attempts)); reach < least {
				want = reach - 0.005
			}
			r := ratio(ok, n)
			return fmt.Sprintf("%.2f%% (want %.2f%%)", 100*r, 100*want), r >= want
		},
	}
}

func breakerStaysClosed() Target {
	return Target{
		Name: "the breaker stays closed",
		Judge: func(s, _ []PhaseStats) (string, bool) {
			n := 0
			for _, p := range s {
				n += p.Openings
			}
			return fmt.Sprintf("%d openings", n), n == 0
		},
	}
}

func successRateNearLimit(limit, tol float64) Target {
	return Target{
		Name: fmt.Sprintf("once converged, successful calls/s within %.0f%% of the server's limit (%.0f/s)", 100*tol, limit),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			r := s[len(s)-1].SuccessRate()
			return fmt.Sprintf("%.0f/s", r), r >= (1-tol)*limit && r <= (1+tol)*limit
		},
	}
}

func limitedShare(limit float64) Target {
	return Target{
		Name: fmt.Sprintf("once converged, under %.0f%% of attempts answered 429", 100*limit),
		Judge: func(s, _ []PhaseStats) (string, bool) {
			p := s[len(s)-1]
			if p.Attempts == 0 {
				return "no attempts", false
			}
			r := p.LimitedShare()
			return fmt.Sprintf("%.1f%%", 100*r), r < limit
		},
	}
}
