package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Profiles are the wrappers of Service, one per built-in profile as
// shipped (see service.go), in the order they run.
var Profiles = []struct {
	Name  string
	Build Builder
}{
	{"api", builder(NewAPIService)},
	{"database", builder(NewDatabaseService)},
	{"default", builder(NewDefaultService)},
	{"development", builder(NewDevelopmentService)},
	{"file", builder(NewFileService)},
	{"production-postgres", builder(NewProductionPostgresService)},
	{"production-shopify", builder(NewProductionShopifyService)},
}

// settingsFlag collects -set policy.key=value (or policy=off) flags.
type settingsFlag runtime.Settings

func (s *settingsFlag) String() string {
	var parts []string
	for _, st := range *s {
		parts = append(parts, st.Policy+"."+st.Key+"="+st.Value)
	}
	return strings.Join(parts, " ")
}

func (s *settingsFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" || value == "" {
		return fmt.Errorf("%q: want policy.key=value or policy=off", v)
	}
	policy, key, _ := strings.Cut(name, ".")
	*s = append(*s, runtime.Setting{Policy: policy, Key: key, Value: value})
	return nil
}

// run is the command: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	p := DefaultParams()
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenario", "all", "comma-separated scenarios: "+strings.Join(ScenarioNames, ", ")+", or all")
	var names []string
	for _, pr := range Profiles {
		names = append(names, pr.Name)
	}
	profiles := fs.String("profiles", strings.Join(names, ","), "comma-separated profiles whose wrappers run after the bare client")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "offered load, calls a second (open loop)")
	arrivals := fs.String("arrivals", "poisson", "poisson or even")
	fs.DurationVar(&p.Deadline, "deadline", p.Deadline, "deadline of each call")
	fs.IntVar(&p.Workers, "workers", p.Workers, "the server's workers at full capacity")
	fs.IntVar(&p.ReducedWorkers, "reduced-workers", p.ReducedWorkers, "the server's workers while capacity is reduced (brownout, deepqueue)")
	fs.IntVar(&p.Queue, "queue", p.Queue, "the server's queue (503 at once beyond it)")
	fs.IntVar(&p.DeepQueue, "deep-queue", p.DeepQueue, "the server's queue in deepqueue")
	fs.DurationVar(&p.ServiceTime, "service-time", p.ServiceTime, "how long a worker takes for a request")
	fs.DurationVar(&p.Before, "before", p.Before, "length of the phase before the fault")
	fs.DurationVar(&p.During, "during", p.During, "length of the fault")
	fs.DurationVar(&p.After, "after", p.After, "length of the phase after the fault")
	fs.DurationVar(&p.AttemptTimeout, "attempt-timeout", p.AttemptTimeout, "per-attempt timeout of every wrapper in deepqueue")
	fs.Float64Var(&p.FailRate, "fail-rate", p.FailRate, "share of requests failing at random in random")
	fs.Float64Var(&p.RandomRate, "random-rate", p.RandomRate, "offered load in random, calls a second")
	fs.DurationVar(&p.RandomDeadline, "random-deadline", p.RandomDeadline, "deadline of each call in random: long enough for the profiles' backoff")
	fs.Float64Var(&p.ServerLimit, "server-limit", p.ServerLimit, "requests a second the server admits in slowlimit")
	fs.Uint64Var(&p.Seed, "seed", 0, "seed of the arrivals (0: random)")
	fs.BoolVar(&p.HTTP2, "h2c", p.HTTP2, "HTTP/2 without TLS instead of HTTP/1.1: calls that time out reset a stream instead of closing a connection")
	bucket := fs.Duration("bucket", 100*time.Millisecond, "bucket of the recovery time")
	svgPath := fs.String("svg", "", "write the plot of goodput over time to this file: brownout's, or the first scenario's; {scenario} in the name writes one per scenario")
	plotBucket := fs.Duration("plot-bucket", 250*time.Millisecond, "bucket of the plot")
	strict := fs.Bool("strict", false, "exit 1 when a target fails")
	series := fs.Bool("series", false, "also print each client's goodput per plot bucket")
	var extra settingsFlag
	fs.Var(&extra, "set", "run-time override policy.key=value (or policy=off) for every wrapper; repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch *arrivals {
	case "poisson":
	case "even":
		p.Even = true
	default:
		fmt.Fprintf(stderr, "overload: -arrivals %q: want poisson or even\n", *arrivals)
		return 2
	}
	if p.Rate <= 0 || p.Workers < 1 || p.ReducedWorkers < 1 || p.ServiceTime <= 0 || p.Deadline <= 0 || *bucket <= 0 || *plotBucket <= 0 {
		fmt.Fprintln(stderr, "overload: -rate, -workers, -reduced-workers, -service-time, -deadline and the buckets must be positive")
		return 2
	}
	scNames := ScenarioNames
	if *scenarios != "all" {
		scNames = splitList(*scenarios)
	}
	list, err := Scenarios(p, scNames)
	if err != nil {
		fmt.Fprintln(stderr, "overload:", err)
		return 2
	}
	subjects := []Subject{{Name: "bare"}}
	for _, name := range splitList(*profiles) {
		found := false
		for _, pr := range Profiles {
			if pr.Name == name {
				subjects, found = append(subjects, Subject{Name: name, Build: pr.Build}), true
			}
		}
		if !found {
			fmt.Fprintf(stderr, "overload: unknown profile %q (want %s)\n", name, strings.Join(names, ", "))
			return 2
		}
	}

	fmt.Fprintf(stdout, "overload: %.0f calls/s offered open loop (%s arrivals), a %v deadline per call; server: %d workers x %v = %.0f requests/s, 503 when its queue is full\n",
		p.Rate, *arrivals, p.Deadline, p.Workers, p.ServiceTime, p.Capacity(p.Workers))
	fmt.Fprintln(stdout, "each client runs alone against a fresh server; the wrappers are the built-in profiles as shipped, their client-side rate limit off")
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(stdout, "load average at the start: %s (the figures are only as steady as the machine)\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	if len(extra) > 0 {
		fmt.Fprintf(stdout, "every wrapper also runs with -set %s\n", extra.String())
	}
	fmt.Fprintf(stdout, "goodput: calls that succeeded / calls offered; attempts/call: requests the server received / calls; recovery: from capacity's return, the first %v from which %.0f%% of calls succeed to the end of the phase\n",
		*bucket, 100*RecoveryShare)
	passed, judged := 0, 0
	var plotted bool
	for _, sc := range list {
		fmt.Fprintf(stdout, "\n== %s: %s\n", sc.Name, sc.About)
		var phases []string
		for _, ph := range sc.Load.Phases {
			phases = append(phases, fmt.Sprintf("%s %v", ph.Name, ph.Duration))
		}
		fmt.Fprintf(stdout, "phases: %s; server queue %d\n", strings.Join(phases, ", "), sc.Load.Server.Queue)
		var results []*Result
		for _, sub := range subjects {
			sub.Options = append(append([]runtime.Option(nil), sc.Options...), sub.Options...)
			if len(extra) > 0 {
				sub.Options = append(sub.Options, runtime.WithConfig(runtime.Settings(extra)))
			}
			t0 := time.Now()
			res, err := Run(ctx, sc.Load, sub)
			if err != nil {
				fmt.Fprintf(stderr, "overload: %s, %s: %v\n", sc.Name, sub.Name, err)
				return 1
			}
			fmt.Fprintf(stderr, "overload: %s, %s: %d calls in %.1fs\n", sc.Name, sub.Name, len(res.Calls), time.Since(t0).Seconds())
			results = append(results, res)
		}
		rep := NewReport(sc, results, *bucket)
		rep.Print(stdout)
		rep.warnNoise(stdout)
		if *series {
			rep.PrintSeries(stdout, *plotBucket)
		}
		for _, v := range rep.Verdicts() {
			judged++
			if v.Pass {
				passed++
			}
		}
		if *svgPath != "" && (strings.Contains(*svgPath, "{scenario}") || !plotted && (sc.Name == "brownout" || !hasScenario(list, "brownout"))) {
			path := strings.ReplaceAll(*svgPath, "{scenario}", sc.Name)
			if err := writeSVGFile(path, rep, *plotBucket); err != nil {
				fmt.Fprintln(stderr, "overload:", err)
				return 1
			}
			plotted = true
			fmt.Fprintf(stdout, "plot: %s\n", path)
		}
	}
	fmt.Fprintf(stdout, "\ntargets met: %d of %d\n", passed, judged)
	if *strict && passed < judged {
		return 1
	}
	return 0
}

func hasScenario(list []*Scenario, name string) bool {
	for _, sc := range list {
		if sc.Name == name {
			return true
		}
	}
	return false
}

func writeSVGFile(path string, rep *Report, bucket time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	if err := WriteSVG(f, rep, bucket); err != nil {
		f.Close()
		return fmt.Errorf("writing the plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the plot %s: %w", path, err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
