package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// demoScale scales the file profile's delays down for the demo: the
// simulated process holds its locks for 5–40ms, and the profile's 500ms
// before the first retry is made for remote stores. Attempts and
// thresholds are left as the profile says.
var demoScale = runtime.Settings{
	{Policy: "retry", Key: "initial_delay", Value: "50ms"},
	{Policy: "retry", Key: "max_delay", Value: "500ms"},
	{Policy: "circuit_breaker", Key: "recovery_timeout", Value: "1s"},
}

// demoFile is the name of file i, and demoContent its content.
func demoFile(i int) string       { return fmt.Sprintf("doc-%02d.txt", i) }
func demoContent(i int) []byte    { return fmt.Appendf(nil, "the content of %s\n", demoFile(i)) }
func missingFile(i int64) string  { return fmt.Sprintf("missing-%d.txt", i) }
func isMissingName(n string) bool { return len(n) > 8 && n[:8] == "missing-" }

// demoReport counts what the demo's batches got.
type demoReport struct {
	elapsed                      time.Duration
	batches, complete, partial   atomic.Int64
	failed                       atomic.Int64 // batches that read nothing
	asked, read                  atomic.Int64 // files
	locked, missing              atomic.Int64 // files a partial batch could not read
	reread, stillLocked, corrupt atomic.Int64
}

// lockers simulate other processes: each holds an exclusive lock of a
// random file for 5–40ms, lets go for up to 20ms, and again, until stop is
// closed. They return how many locks they took.
func lockers(dir string, files, n int, stop <-chan struct{}) (wait func() int64) {
	var wg sync.WaitGroup
	var locks atomic.Int64
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				release, err := holdLock(filepath.Join(dir, demoFile(rand.IntN(files))), true)
				if err == nil { // else a reader holds it: try another
					locks.Add(1)
					time.Sleep(time.Duration(5+rand.IntN(36)) * time.Millisecond)
					release()
				}
				time.Sleep(time.Duration(rand.IntN(21)) * time.Millisecond)
			}
		})
	}
	return func() int64 { wg.Wait(); return locks.Load() }
}

// run is the demo: flags in, report out, exit code back.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("files", flag.ContinueOnError)
	fset.SetOutput(stderr)
	batches := fset.Int("batches", 400, "batch reads to make")
	workers := fset.Int("workers", 4, "goroutines making them")
	files := fset.Int("files", 20, "files in the directory")
	verbose := fset.Bool("v", false, "log every resilience action to stderr")
	if err := fset.Parse(args); err != nil {
		return 2
	}
	if *batches < 1 || *workers < 1 || *files < 8 || fset.NArg() > 0 {
		fmt.Fprintln(stderr, "files: -batches and -workers must be positive, -files at least 8; no arguments")
		return 2
	}
	dir, err := os.MkdirTemp("", "resgen-files-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "files:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	d, err := OpenDir(dir)
	if err != nil {
		fmt.Fprintln(stderr, "files:", err)
		return 1
	}
	defer d.Close()

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var transitions atomic.Int64
	store, err := NewResilientFileStore(d, runtime.WithConfig(demoScale), runtime.WithLogger(logger),
		runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) {
			if e.Kind == runtime.EventStateChange {
				transitions.Add(1)
			}
		})))
	if err != nil {
		fmt.Fprintln(stderr, "files:", err)
		return 1
	}
	for i := range *files {
		if err := store.Write(ctx, demoFile(i), demoContent(i)); err != nil {
			fmt.Fprintln(stderr, "files:", err)
			return 1
		}
	}
	cfg, _ := store.Resilience().Config("ReadBatch")

	fmt.Fprintf(stdout, "resgen demo: a file-store connector under locks (examples/files)\n\n")
	fmt.Fprintf(stdout, "store   %s: %d files; flock(2) locks, shared to read, taken without waiting\n", dir, *files)
	fmt.Fprintf(stdout, "        two simulated processes lock random files for 5-40ms at a time (EWOULDBLOCK for the store)\n")
	fmt.Fprintf(stdout, "        one batch in ten asks for a file that does not exist (os.ErrNotExist)\n")
	fmt.Fprintf(stdout, "client  ResilientFileStore, file profile: max_attempts %d, failure_threshold %d, timeout %v per attempt,\n",
		cfg.Retry.MaxAttempts, cfg.CircuitBreaker.FailureThreshold, cfg.Timeout.Duration)
	fmt.Fprintf(stdout, "        partial-failure recovery; rate limit off (a local directory)\n")
	fmt.Fprintf(stdout, "        delays scaled for the demo with runtime.WithConfig: initial_delay 500ms → %v, max_delay 60s → %v\n",
		cfg.Retry.InitialDelay, cfg.Retry.MaxDelay)
	fmt.Fprintf(stdout, "\n%d batch reads of 8 files from %d goroutines\n", *batches, *workers)

	stop := make(chan struct{})
	waitLockers := lockers(dir, *files, 2, stop)
	rep := readBatches(ctx, store, *batches, *workers, *files)
	close(stop)
	locks := waitLockers()

	summarize(stdout, rep, locks, d, store, transitions.Load())
	h := measureHeap(d, 2000)
	fmt.Fprintf(stdout, "\nResilience state on the heap (runtime.ReadMemStats around 2000 wrappers of this store)\n")
	fmt.Fprintf(stdout, "  %.0f bytes per ResilientFileStore (%d methods): %.0f per method, %.0f for the rest\n",
		h.PerWrapper, len(resilientFileStoreSpec.Methods), h.PerMethod, h.Fixed)
	fmt.Fprintf(stdout, "  %.3f%% of this process's heap (%.1f MiB in use)\n",
		100*h.PerWrapper/float64(h.ProcessHeap), float64(h.ProcessHeap)/(1<<20))
	if rep.corrupt.Load() > 0 {
		fmt.Fprintf(stderr, "files: %d files read with the wrong content\n", rep.corrupt.Load())
		return 1
	}
	return 0
}

// readBatches makes n batch reads of 8 random files from workers
// goroutines, pausing up to 5ms between batches; one in ten also asks for
// a missing file. A partial batch's
// locked files are read again, in a batch of their own, which the wrapper
// retries while they stay locked.
func readBatches(ctx context.Context, store FileStore, n, workers, files int) *demoReport {
	rep := new(demoReport)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					return
				}
				names := make([]string, 0, 9)
				for _, f := range rand.Perm(files)[:8] {
					names = append(names, demoFile(f))
				}
				if i%10 == 0 {
					names = append(names, missingFile(i))
				}
				rep.batches.Add(1)
				rep.asked.Add(int64(len(names)))
				got, err := store.ReadBatch(ctx, names)
				rep.read.Add(int64(len(got)))
				check(rep, got)
				var pe *runtime.PartialError
				switch {
				case err == nil:
					rep.complete.Add(1)
				case errors.As(err, &pe):
					rep.partial.Add(1)
					var locked []string
					for _, name := range pe.Failed {
						if isMissingName(name) {
							rep.missing.Add(1)
						} else {
							locked = append(locked, name)
						}
					}
					rep.locked.Add(int64(len(locked)))
					if len(locked) > 0 {
						again, _ := store.ReadBatch(ctx, locked)
						check(rep, again)
						rep.reread.Add(int64(len(again)))
						rep.stillLocked.Add(int64(len(locked) - len(again)))
					}
				default:
					rep.failed.Add(1)
				}
				// A pause between batches, as an application would make,
				// so that the run meets the other processes' locks.
				time.Sleep(time.Duration(rand.IntN(6)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	return rep
}

// check counts the files whose content is not what the demo wrote.
func check(rep *demoReport, got map[string][]byte) {
	for name, data := range got {
		var i int
		if _, err := fmt.Sscanf(name, "doc-%02d.txt", &i); err != nil || !bytes.Equal(data, demoContent(i)) {
			rep.corrupt.Add(1)
		}
	}
}

func maxAttempts(store *ResilientFileStore, method string) int {
	cfg, _ := store.Resilience().Config(method)
	return cfg.Retry.MaxAttempts
}

func summarize(w io.Writer, rep *demoReport, locks int64, d *Dir, store *ResilientFileStore, transitions int64) {
	fmt.Fprintf(w, "\nSummary after %v\n", rep.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  batches        %d: %d complete, %d partial (returned at once), %d read nothing\n",
		rep.batches.Load(), rep.complete.Load(), rep.partial.Load(), rep.failed.Load())
	fmt.Fprintf(w, "  files          %d of %d asked for were read by the first batch; %d were locked, %d missing\n",
		rep.read.Load(), rep.asked.Load(), rep.locked.Load(), rep.missing.Load())
	fmt.Fprintf(w, "  locked files   read again in batches of their own, which the wrapper retries: %d read, %d not\n",
		rep.reread.Load(), rep.stillLocked.Load())
	fmt.Fprintf(w, "                 (still locked after %d attempts, or left over by a re-read that was itself partial)\n",
		maxAttempts(store, "ReadBatch"))
	fmt.Fprintf(w, "  missing files  %d: os.ErrNotExist, permanent, never retried\n", rep.missing.Load())
	fmt.Fprintf(w, "  other process  took %d exclusive locks\n", locks)
	fmt.Fprintf(w, "  store          opened files %d times\n", d.Opens())
	if transitions == 0 {
		fmt.Fprintf(w, "  breaker        closed throughout: partial batches count as the store being up\n")
	} else {
		fmt.Fprintf(w, "  breaker        %d transitions\n", transitions)
	}
	if rep.corrupt.Load() > 0 {
		fmt.Fprintf(w, "  WRONG CONTENT  %d files\n", rep.corrupt.Load())
	}

	fmt.Fprintf(w, "\nResilientFileStore.Resilience().Metrics()\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  method\tcalls\tsuccesses\tfailures\tpartial\tafter retry\tretries\tfailed attempts\tretry delay\t\n")
	for _, m := range store.Resilience().Metrics() {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t\n",
			m.Method, m.Calls, m.Successes, m.Failures, m.PartialFailures, m.SuccessesAfterRetry, m.RetryAttempts,
			m.FailedAttempts, m.RetryDelay.Round(time.Millisecond))
	}
	tw.Flush()
}
