package yamlconf

import (
	"fmt"
	rt "runtime"
	"strings"
	"testing"
	"time"
)

// profileChain returns a resgen.yaml of n custom profiles, each extending
// the one before it, the first extending api; bad(i) may give profile i
// another extends.
func profileChain(n int, bad func(i int) string) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nprofiles:\n")
	for i := range n {
		ext := "api"
		if i > 0 {
			ext = fmt.Sprintf("profile-%d", i-1)
		}
		if bad != nil {
			if e := bad(i); e != "" {
				ext = e
			}
		}
		fmt.Fprintf(&b, "  profile-%d:\n    extends: %s\n    retry: {max_attempts: %d}\n    timeout: %dms\n", i, ext, i%5+1, i+1)
	}
	fmt.Fprintf(&b, "wrappers:\n  - type: Store\n    profile: profile-%d\n", n-1)
	return []byte(b.String())
}

// TestManyProfilesAreLinear: checking and resolving 4,000 custom profiles
// that extend one another, with or without misspelled extends, takes well
// under a second, and four times the profiles cost about four times the
// memory (walking every chain from every profile, and comparing every
// misspelling with every name, took seconds and gigabytes). A misspelling
// is reported once, at the profile that makes it.
func TestManyProfilesAreLinear(t *testing.T) {
	n, runs := 4000, 3
	if raceEnabled {
		n, runs = 2000, 1 // the race detector slows parsing tenfold
	}
	tests := []struct {
		name   string
		bad    func(i int) string
		errors func(n int) int
	}{
		{"a chain", nil, func(int) int { return 0 }},
		{"a misspelled extends", func(i int) string {
			if i == 1 {
				return "profil-0"
			}
			return ""
		}, func(int) int { return 1 }},
		{"every extends misspelled", func(i int) string { return fmt.Sprintf("profle-%d", i) }, func(n int) int { return n }},
	}
	// run parses and resolves n profiles, and returns the best time of
	// the runs and the bytes that one allocates.
	run := func(t *testing.T, n int, bad func(int) string, wantErrs int) (time.Duration, uint64) {
		data := profileChain(n, bad)
		best, bytes := time.Duration(1<<62), uint64(0)
		for range runs {
			var before, after rt.MemStats
			rt.ReadMemStats(&before)
			start := time.Now()
			f, errs := Parse(data, Generation)
			if len(errs) != wantErrs {
				t.Fatalf("%d errors, want %d; the first: %v", len(errs), wantErrs, errs[0])
			}
			if wantErrs == 0 {
				s, ok := f.ProfileSettings(fmt.Sprintf("profile-%d", n-1))
				if !ok || len(s) < 2*n {
					t.Fatalf("the last profile resolves to %d settings, %v", len(s), ok)
				}
			}
			best = min(best, time.Since(start))
			rt.ReadMemStats(&after)
			bytes = after.TotalAlloc - before.TotalAlloc
		}
		return best, bytes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			small, smallBytes := run(t, n/4, tt.bad, tt.errors(n/4))
			took, bytes := run(t, n, tt.bad, tt.errors(n))
			t.Logf("%d profiles: %v, %d KiB; %d profiles: %v, %d KiB", n/4, small, smallBytes>>10, n, took, bytes>>10)
			if ratio := float64(bytes) / float64(smallBytes); ratio > 6 {
				t.Errorf("%d profiles allocate %.1f times what %d do, want about 4 times", n, ratio, n/4)
			}
			// Well under a second, unless the whole machine is slow: then
			// four times the profiles still take about four times as long.
			if !raceEnabled && took > time.Second && took > 8*small {
				t.Errorf("%d profiles took %v, %d took %v: want well under a second", n, took, n/4, small)
			}
		})
	}
}

// BenchmarkParseProfiles parses and resolves 4,000 custom profiles that
// extend one another.
func BenchmarkParseProfiles(b *testing.B) {
	data := profileChain(4000, nil)
	b.ReportAllocs()
	for b.Loop() {
		f, errs := Parse(data, Generation)
		if len(errs) > 0 {
			b.Fatal(errs[0])
		}
		if _, ok := f.ProfileSettings("profile-3999"); !ok {
			b.Fatal("does not resolve")
		}
	}
}
