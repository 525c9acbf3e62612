package prometheus_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/resgen-dev/resgen/runtime"
	resgenprom "github.com/resgen-dev/resgen/runtime/prometheus"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// dashboardPath is the Grafana dashboard of the collector's series.
const dashboardPath = "../../docs/grafana/resgen.json"

// exported returns the series names that a collector of a wrapper (with a
// breaker and latency histograms, so that every series is there) exports,
// each with its label names.
func exported(t *testing.T) map[string]map[string]bool {
	t.Helper()
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(resgenprom.NewCollector(manager(t, runtime.WithLatencyHistograms()), adaptiveRateManager(t)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]map[string]bool)
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		name := mf.GetName()
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			out[name+"_sum"], out[name+"_count"] = labels, labels
			bucket := map[string]bool{"le": true}
			for l := range labels {
				bucket[l] = true
			}
			out[name+"_bucket"] = bucket
			continue
		}
		out[name] = labels
	}
	return out
}

// adaptiveRateManager is a wrapper whose method has an adaptive rate
// limit, whose series the wrapper of manager does not have.
func adaptiveRateManager(t *testing.T) *runtime.Manager {
	t.Helper()
	spec := &resgenimpl.Spec{Wrapper: "ResilientFeed", Interface: "shop.Feed", Methods: []resgenimpl.MethodSpec{{
		Name: "List",
		Config: runtime.Config{
			RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 10, Adaptive: true},
		},
	}}}
	m, err := resgenimpl.NewManager(nil, spec, runtime.WithLogger(nil), runtime.WithHostKey("feed.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m.Resilience()
}

// promqlFuncs are the PromQL functions and aggregations a query may call.
var promqlFuncs = map[string]bool{
	"rate": true, "irate": true, "increase": true, "sum": true, "max": true, "min": true, "avg": true, "count": true,
	"histogram_quantile": true, "clamp_min": true, "clamp_max": true, "topk": true, "bottomk": true, "abs": true,
	"max_over_time": true, "min_over_time": true, "avg_over_time": true, "changes": true, "resets": true, "delta": true,
}

// promqlGrouping are the keywords followed by a list of label names.
var promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

var promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}

var identRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

// checkPromQL checks that expr names only series of series, with their
// labels, and returns the series it names. It reads PromQL as a sequence of
// tokens: an identifier is a function or an aggregation (which may be
// followed by a grouping), a grouping keyword whose list holds label
// names, an operator keyword, or else a series, whose selector holds its
// label names.
func checkPromQL(expr string, series map[string]map[string]bool) (names []string, errs []error) {
	var grouping []string // label names of by(...), on(...)
	s := expr
	skipSpace := func() { s = strings.TrimLeft(s, " \t\n") }
	for {
		skipSpace()
		if s == "" {
			break
		}
		switch c := s[0]; {
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(s[1:], c)
			if end < 0 {
				return names, append(errs, fmt.Errorf("unterminated string in %q", expr))
			}
			s = s[end+2:]
		case c == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return names, append(errs, fmt.Errorf("unterminated range in %q", expr))
			}
			s = s[end+1:]
		case c == '$':
			s = s[1:]
			s = s[len(identRE.FindString(s)):]
		case c >= '0' && c <= '9' || c == '.':
			s = strings.TrimLeft(s, "0123456789.e")
		case identRE.MatchString(s):
			id := identRE.FindString(s)
			s = s[len(id):]
			skipSpace()
			switch {
			case promqlGrouping[id]:
				if !strings.HasPrefix(s, "(") {
					if id == "group_left" || id == "group_right" {
						continue
					}
					return names, append(errs, fmt.Errorf("%s without a label list in %q", id, expr))
				}
				end := strings.IndexByte(s, ')')
				for l := range strings.SplitSeq(s[1:end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						grouping = append(grouping, l)
					}
				}
				s = s[end+1:]
			case promqlFuncs[id]: // a function, or an aggregation, which may be followed by by (...)
			case strings.HasPrefix(s, "("):
				errs = append(errs, fmt.Errorf("unknown function %s in %q", id, expr))
			case promqlKeywords[id]:
			default:
				labels, ok := series[id]
				if !ok {
					errs = append(errs, fmt.Errorf("%s is not a series the collector exports (in %q)", id, expr))
				}
				names = append(names, id)
				if strings.HasPrefix(s, "{") {
					end := strings.IndexByte(s, '}')
					if end < 0 {
						return names, append(errs, fmt.Errorf("unterminated selector in %q", expr))
					}
					for _, m := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"[^"]*"`).FindAllStringSubmatch(s[1:end], -1) {
						if ok && !labels[m[1]] {
							errs = append(errs, fmt.Errorf("%s has no label %s (in %q)", id, m[1], expr))
						}
					}
					s = s[end+1:]
				}
			}
		default:
			s = s[1:] // an operator or a parenthesis
		}
	}
	if len(names) == 0 {
		errs = append(errs, fmt.Errorf("%q names no series", expr))
	}
	for _, l := range grouping {
		if !anyHas(names, series, l) {
			errs = append(errs, fmt.Errorf("no series of %q has the label %s it groups by", expr, l))
		}
	}
	return names, errs
}

func anyHas(names []string, series map[string]map[string]bool, label string) bool {
	for _, n := range names {
		if series[n][label] {
			return true
		}
	}
	return false
}

// dashboard is what the test reads of a Grafana dashboard.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a row's
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

var legendRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// TestDashboardQueriesNameExportedSeries: every query of the Grafana
// dashboard (panels and variables) names only series that the collector
// exports, with labels they have; its legends name labels of those
// series; and every series the collector exports is on the dashboard.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	series := exported(t)
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	shown := map[string]bool{}
	var walk func(ps []panel)
	queries := 0
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				names, errs := checkPromQL(tg.Expr, series)
				for _, err := range errs {
					t.Errorf("panel %q: %v", p.Title, err)
				}
				for _, n := range names {
					shown[n] = true
				}
				for _, m := range legendRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !anyHas(names, series, m[1]) {
						t.Errorf("panel %q: legend %q names %s, a label of none of its series", p.Title, tg.LegendFormat, m[1])
					}
				}
			}
		}
	}
	walk(d.Panels)
	if queries == 0 {
		t.Fatal("the dashboard has no query")
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		m := labelValuesRE.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(series, label)", v.Name, q)
			continue
		}
		names, errs := checkPromQL(m[1], series)
		for _, err := range errs {
			t.Errorf("variable %s: %v", v.Name, err)
		}
		if !anyHas(names, series, m[2]) {
			t.Errorf("variable %s: %q has no label %s", v.Name, m[1], m[2])
		}
	}
	var missing []string
	for name := range series {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !shown[name] && !shown[family+"_bucket"] && !shown[family] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("series the collector exports that the dashboard does not show: %v", missing)
	}
}

// TestCheckPromQLCatchesMistakes: the dashboard check refuses a series
// the collector does not export, a label it does not have, an unknown
// function and a grouping label of none of the series; and takes the
// queries that are right.
func TestCheckPromQLCatchesMistakes(t *testing.T) {
	series := exported(t)
	tests := []struct {
		expr    string
		wantErr string // empty: no error
	}{
		{`sum by (wrapper, result) (rate(resgen_calls_total{wrapper=~"$wrapper",result="failure"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.99, sum by (le) (rate(resgen_attempt_duration_seconds_bucket[5m])))`, ""},
		{`resgen_breaker_state{breaker="x"} > 0`, ""},
		{`rate(resgen_call_total[5m])`, "resgen_call_total is not a series"},
		{`rate(resgen_calls_total{shard="a"}[5m])`, "has no label shard"},
		{`resgen_breaker_state{method="Get"}`, "has no label method"},
		{`sum by (class) (rate(resgen_calls_total[5m]))`, "groups by"},
		{`ratee(resgen_calls_total[5m])`, "unknown function ratee"},
		{`sum(rate(up[5m]))`, "up is not a series"},
		{`1 + 1`, "names no series"},
	}
	for _, tt := range tests {
		_, errs := checkPromQL(tt.expr, series)
		msgs := fmt.Sprint(errs)
		switch {
		case tt.wantErr == "" && len(errs) > 0:
			t.Errorf("%s: %v", tt.expr, errs)
		case tt.wantErr != "" && !strings.Contains(msgs, tt.wantErr):
			t.Errorf("%s: errors %v, want one with %q", tt.expr, errs, tt.wantErr)
		}
	}
	if !slices.Contains(mapsKeys(series), "resgen_attempt_duration_seconds_bucket") {
		t.Fatal("the collector exports no attempt-duration histogram: the check covers less than the dashboard shows")
	}
}

func mapsKeys(m map[string]map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
