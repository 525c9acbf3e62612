package prometheus_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/resgen-dev/resgen/runtime"
	resgenprom "github.com/resgen-dev/resgen/runtime/prometheus"
)

var update = flag.Bool("update", false, "rewrite testdata/exposition.golden")

// TestTwoInstancesOfOneTypeInOneCollector is the scrape that used to fail:
// two wrappers of one type in one collector ("was collected before with the
// same name and label values").
func TestTwoInstancesOfOneTypeInOneCollector(t *testing.T) {
	c := resgenprom.NewCollector(manager(t), manager(t))
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("scrape of two instances of one type: %v", err)
	}
}

// TestDuplicateInstanceNamed: two wrappers of one type given the same
// instance name made every series collide ("57 error(s) occurred ...
// collected before with the same name and label values"); Add refuses the
// second, and a Collector built with both says what is wrong in one error.
func TestDuplicateInstanceNamed(t *testing.T) {
	a, b := manager(t, runtime.WithInstance("shard")), manager(t, runtime.WithInstance("shard"))
	c := resgenprom.NewCollector(a)
	err := c.Add(b)
	if err == nil || !strings.Contains(err.Error(), `two ResilientStore wrappers named instance "shard"`) {
		t.Fatalf("Add of a second instance \"shard\": %v", err)
	}
	if err := c.Add(a); err == nil {
		t.Fatal("Add of a Manager already collected: no error")
	}
	if err := c.Add(manager(t, runtime.WithInstance("other"))); err != nil {
		t.Fatalf("Add of another instance: %v", err)
	}
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("scrape after a refused Add: %v", err)
	}

	both := resgenprom.NewCollector(a, b)
	reg = prom.NewPedanticRegistry()
	reg.MustRegister(both)
	_, err = reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "name them apart with runtime.WithInstance") {
		t.Fatalf("scrape of two instances named alike: %v", err)
	}
	if n := strings.Count(err.Error(), "* "); n > 1 {
		t.Fatalf("%d errors in the scrape, want the one that says why:\n%v", n, err)
	}
}

func TestCollectorRemove(t *testing.T) {
	a, b := manager(t, runtime.WithInstance("a")), manager(t, runtime.WithInstance("b"))
	c := resgenprom.NewCollector(a, b)
	if !c.Remove(a) || c.Remove(a) {
		t.Fatal("Remove reports wrongly")
	}
	if n := testutil.CollectAndCount(c, "resgen_calls_total"); n != 2 {
		t.Fatalf("%d resgen_calls_total series after Remove, want 2 (one instance)", n)
	}
}

// TestExpositionGolden compares the whole exposition of two named
// instances, one with latency histograms, with testdata/exposition.golden
// (go test -update rewrites it), and lints it.
func TestExpositionGolden(t *testing.T) {
	c := resgenprom.NewCollector(manager(t, runtime.WithInstance("shard-1"), runtime.WithLatencyHistograms()),
		manager(t, runtime.WithInstance("shard-2")))
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if mf.GetName() == "resgen_attempt_duration_seconds" {
			for _, m := range mf.Metric { // durations vary: keep the structure and count
				m.Histogram.SampleSum = new(float64)
				for _, b := range m.Histogram.Bucket {
					b.CumulativeCount = m.Histogram.SampleCount
				}
			}
		}
		if mf.GetName() == "resgen_requests_per_minute" {
			for _, m := range mf.Metric { // the rate follows the system clock
				m.Gauge.Value = new(float64)
			}
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/exposition.golden", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/exposition.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != string(want) {
		t.Fatalf("exposition differs from testdata/exposition.golden (go test -update rewrites it):\n%s", got)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
