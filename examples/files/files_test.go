package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore writes files into a temporary directory and wraps a Dir of
// it, quiet, with opts.
func newStore(t *testing.T, files map[string]string, opts ...runtime.Option) (*Dir, *ResilientFileStore, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	w, err := NewResilientFileStore(d, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Resilience().Close)
	return d, w, dir
}

// lock holds a lock of the file at path, as another process would, until
// the test ends or the returned func is called.
func lock(t *testing.T, path string, exclusive bool) (release func()) {
	t.Helper()
	if !canLock {
		t.Skip("no advisory file locks on this platform")
	}
	rel, err := holdLock(path, exclusive)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			rel()
		}
	}
	t.Cleanup(release)
	return release
}

// breakerOnHair makes the breaker open on the first counted failure: one
// failed attempt of a call without retry, or max_attempts (4) in a row.
var breakerOnHair = runtime.WithConfig(runtime.Settings{
	{Policy: "circuit_breaker", Key: "failure_threshold", Value: "1"},
})

func metrics(t *testing.T, w *ResilientFileStore, method string) runtime.MethodMetrics {
	t.Helper()
	m, ok := w.Resilience().MethodMetrics(method)
	if !ok {
		t.Fatalf("no method %s", method)
	}
	return m
}

func TestFileProfileInForce(t *testing.T) {
	_, w, _ := newStore(t, nil)
	cfg, _ := w.Resilience().Config("ReadBatch")
	if cfg.Retry.MaxAttempts != 4 || cfg.Retry.InitialDelay != 500*time.Millisecond ||
		cfg.CircuitBreaker.FailureThreshold != 10 || cfg.CircuitBreaker.RecoveryTimeout != 15*time.Second ||
		!cfg.RateLimit.Disabled || cfg.Recovery.DisablePartialFailureRecovery {
		t.Errorf("ReadBatch's configuration is not the file profile's with the interface's directives: %+v", cfg)
	}
}

// TestPartialBatchReturnsAtOnce: a batch with a locked and a missing file
// returns the files it read and a *runtime.PartialError after one attempt
// (a retry would read a.txt and c.txt again), is counted as a partial
// failure, and leaves the breaker closed even when a single counted
// failure would open it.
func TestPartialBatchReturnsAtOnce(t *testing.T) {
	files := map[string]string{"a.txt": "A", "b.txt": "B", "c.txt": "C"}
	d, w, dir := newStore(t, files, breakerOnHair)
	lock(t, filepath.Join(dir, "b.txt"), true)
	const calls = 10
	for range calls {
		got, err := w.ReadBatch(context.Background(), []string{"a.txt", "b.txt", "c.txt", "missing.txt"})
		var pe *runtime.PartialError
		if !errors.As(err, &pe) {
			t.Fatalf("ReadBatch: %v, want a *runtime.PartialError", err)
		}
		if len(got) != 2 || string(got["a.txt"]) != "A" || string(got["c.txt"]) != "C" {
			t.Fatalf("ReadBatch returned %q, want a.txt and c.txt", got)
		}
		if !slices.Equal(pe.Succeeded, []string{"a.txt", "c.txt"}) || !slices.Equal(pe.Failed, []string{"b.txt", "missing.txt"}) {
			t.Fatalf("succeeded %v, failed %v", pe.Succeeded, pe.Failed)
		}
		if !errors.Is(err, os.ErrNotExist) || !isLocked(err) {
			t.Fatalf("the per-file errors are not both in the chain: %v", err)
		}
		var pathErr *fs.PathError
		if !errors.As(err, &pathErr) || pathErr.Path != "b.txt" {
			t.Fatalf("the first per-file error is not b.txt's *fs.PathError: %v", err)
		}
	}
	m := metrics(t, w, "ReadBatch")
	if m.Calls != calls || m.PartialFailures != calls || m.FailedAttempts != calls || m.RetryAttempts != 0 {
		t.Errorf("want %d calls of one attempt each, all partial: %+v", calls, m)
	}
	if m.BreakerState != runtime.StateClosed {
		t.Errorf("breaker %v after partial batches, want closed", m.BreakerState)
	}
	if n := d.Opens(); n != 4*calls {
		t.Errorf("the store opened files %d times, want %d: one attempt per batch", n, 4*calls)
	}

	// The control: with the same breaker, one batch that read nothing
	// is a counted failure, and opens it.
	_, w2, dir2 := newStore(t, files, breakerOnHair, runtime.WithConfig(runtime.Settings{{Policy: "retry", Value: "off"}}))
	lock(t, filepath.Join(dir2, "a.txt"), true)
	lock(t, filepath.Join(dir2, "b.txt"), true)
	if _, err := w2.ReadBatch(context.Background(), []string{"a.txt", "b.txt"}); !isLocked(err) {
		t.Fatalf("a batch of locked files: %v, want EWOULDBLOCK", err)
	}
	if _, err := w2.ReadBatch(context.Background(), []string{"c.txt"}); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("after a batch that read nothing: %v, want ErrCircuitOpen", err)
	}
}

// TestLockedFileReadOnThirdAttempt: a file locked by another process for
// the first two attempts is read (or written) on the third. The wrapper
// runs on a fake clock, with the profile's delays without jitter (500ms,
// then 1s): the test advances the clock instead of sleeping, and releases
// the lock when the second attempt has failed (the observer runs before
// the backoff).
func TestLockedFileReadOnThirdAttempt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		method    string
		exclusive bool // the other process writes (readers wait), or reads (writers wait)
		call      func(FileStore) error
	}{
		{"Read", true, func(s FileStore) error {
			data, err := s.Read(ctx, "a.txt")
			if err == nil && string(data) != "A" {
				err = errors.New("wrong content " + string(data))
			}
			return err
		}},
		{"ReadBatch", true, func(s FileStore) error {
			got, err := s.ReadBatch(ctx, []string{"a.txt"})
			if err == nil && string(got["a.txt"]) != "A" {
				err = errors.New("wrong content " + string(got["a.txt"]))
			}
			return err
		}},
		{"Write", false, func(s FileStore) error { return s.Write(ctx, "a.txt", []byte("new")) }},
	} {
		t.Run(tc.method, func(t *testing.T) {
			clk := fakeclock.New(time.Now())
			var release func()
			d, w, dir := newStore(t, map[string]string{"a.txt": "A"},
				runtime.WithClock(clk),
				runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "jitter", Value: "none"}}),
				runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) {
					if e.Kind == runtime.EventRetry && e.Attempt == 2 {
						release()
					}
				})))
			release = lock(t, filepath.Join(dir, "a.txt"), tc.exclusive)

			done := make(chan error, 1)
			go func() { done <- tc.call(w) }()
			for _, delay := range []time.Duration{500 * time.Millisecond, time.Second} {
				clk.BlockUntil(1) // the call backs off
				clk.Advance(delay)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v", tc.method, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not return: it waits for a delay other than 500ms then 1s")
			}
			m := metrics(t, w, tc.method)
			if m.Successes != 1 || m.FailedAttempts != 2 || m.RetryAttempts != 2 || m.SuccessesAfterRetry != 1 ||
				m.RetryDelay != 1500*time.Millisecond {
				t.Errorf("want success on the third attempt after 500ms and 1s: %+v", m)
			}
			if d.Opens() != 3 {
				t.Errorf("the store opened the file %d times, want 3", d.Opens())
			}
			if tc.method == "Write" {
				if data, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(data) != "new" {
					t.Errorf("a.txt holds %q after Write", data)
				}
			}
		})
	}
}

// TestMissingFileIsPermanent: a missing file alone is os.ErrNotExist,
// returned after one attempt, and never counts against the breaker.
func TestMissingFileIsPermanent(t *testing.T) {
	d, w, _ := newStore(t, map[string]string{"a.txt": "A"}, breakerOnHair)
	ctx := context.Background()
	for range 5 {
		if _, err := w.Read(ctx, "missing.txt"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Read: %v, want os.ErrNotExist", err)
		}
		got, err := w.ReadBatch(ctx, []string{"missing.txt"})
		var pe *runtime.PartialError
		if !errors.Is(err, os.ErrNotExist) || errors.As(err, &pe) || got != nil {
			t.Fatalf("ReadBatch: %v, %v: want os.ErrNotExist, no results, not partial", got, err)
		}
	}
	for _, method := range []string{"Read", "ReadBatch"} {
		m := metrics(t, w, method)
		if m.Calls != 5 || m.FailedAttempts != 5 || m.RetryAttempts != 0 || m.BreakerState != runtime.StateClosed {
			t.Errorf("%s: want 5 calls of one attempt, breaker closed: %+v", method, m)
		}
	}
	if d.Opens() != 10 {
		t.Errorf("the store opened files %d times, want 10", d.Opens())
	}
	// The directory is still readable: the breaker did not open.
	if data, err := w.Read(ctx, "a.txt"); err != nil || string(data) != "A" {
		t.Fatalf("Read(a.txt): %q, %v", data, err)
	}
}

// TestInvalidNameIsExcluded: a name outside the directory is refused at
// once (ErrInvalidName, an fs.ErrInvalid), and the breaker does not count
// it (excluded_errors=ErrInvalidName).
func TestInvalidNameIsExcluded(t *testing.T) {
	_, w, _ := newStore(t, map[string]string{"a.txt": "A"}, breakerOnHair)
	for _, name := range []string{"../a.txt", "", "..", "sub/a.txt"} {
		_, err := w.Read(context.Background(), name)
		if !errors.Is(err, ErrInvalidName) || !errors.Is(err, fs.ErrInvalid) {
			t.Fatalf("Read(%q): %v, want ErrInvalidName", name, err)
		}
	}
	if m := metrics(t, w, "Read"); m.FailedAttempts != 4 || m.RetryAttempts != 0 || m.BreakerState != runtime.StateClosed {
		t.Errorf("invalid names were retried or counted by the breaker: %+v", m)
	}
}

func TestList(t *testing.T) {
	_, w, dir := newStore(t, map[string]string{"b.txt": "B", "a.txt": "A"})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := w.List(context.Background())
	if err != nil || !slices.Equal(names, []string{"a.txt", "b.txt"}) {
		t.Fatalf("List: %v, %v", names, err)
	}
}

// TestReadBatchAllLockedIsRetried: a batch that read nothing, because its
// files were locked, is retried whole (no work is redone), and returns
// everything once the locks are gone.
func TestReadBatchAllLockedIsRetried(t *testing.T) {
	clk := fakeclock.New(time.Now())
	var releases []func()
	_, w, dir := newStore(t, map[string]string{"a.txt": "A", "b.txt": "B"},
		runtime.WithClock(clk),
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "jitter", Value: "none"}}),
		runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) {
			if e.Kind == runtime.EventRetry && e.Attempt == 1 {
				for _, r := range releases {
					r()
				}
			}
		})))
	releases = append(releases, lock(t, filepath.Join(dir, "a.txt"), true), lock(t, filepath.Join(dir, "b.txt"), true))
	done := make(chan error, 1)
	var got map[string][]byte
	go func() {
		var err error
		got, err = w.ReadBatch(context.Background(), []string{"a.txt", "b.txt", "missing.txt"})
		done <- err
	}()
	clk.BlockUntil(1)
	clk.Advance(500 * time.Millisecond) // initial_delay, without jitter
	err := <-done
	var pe *runtime.PartialError
	if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []string{"missing.txt"}) {
		t.Fatalf("ReadBatch: %v, want a partial error for missing.txt alone", err)
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"a.txt", "b.txt"}) {
		t.Fatalf("ReadBatch read %v", keys)
	}
	if m := metrics(t, w, "ReadBatch"); m.FailedAttempts != 2 || m.RetryAttempts != 1 || m.PartialFailures != 1 {
		t.Errorf("want a retried batch that ended partial: %+v", m)
	}
}

// TestResilienceHeap measures the heap that the resilience state adds:
// per wrapper and per method.
func TestResilienceHeap(t *testing.T) {
	h := measureHeap(&Dir{}, 5000)
	t.Logf("ResilientFileStore: %.0f bytes per wrapper (%d methods): %.0f per method, %.0f fixed",
		h.PerWrapper, len(resilientFileStoreSpec.Methods), h.PerMethod, h.Fixed)
	if h.PerWrapper <= 0 || h.PerMethod <= 0 || h.PerWrapper > 64<<10 {
		t.Errorf("implausible figures: %+v", h)
	}
}

func TestRunDemo(t *testing.T) {
	if !canLock {
		t.Skip("no advisory file locks on this platform")
	}
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"-batches", "100"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	t.Log(out.String())
	for _, want := range []string{"100: ", "partial (returned at once)", "missing files  10:", "bytes per ResilientFileStore"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
	if code := run(context.Background(), []string{"-batches", "0"}, &out, &errs); code != 2 {
		t.Errorf("-batches 0: exit %d, want 2", code)
	}
}
