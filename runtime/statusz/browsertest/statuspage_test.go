package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/statusz"
)

// findChromium returns the browser to drive: RESGEN_CHROMIUM, or the
// first of Debian's chromium and its usual other names on PATH. Without
// one the test skips, and fails under RESGEN_INTEGRATION=require.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RESGEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium to test the status page in: install Debian's chromium package (apt-get install -y chromium) or set RESGEN_CHROMIUM"
	if os.Getenv("RESGEN_INTEGRATION") == "require" {
		t.Fatal(msg + " (RESGEN_INTEGRATION=require)")
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium for the test and returns a context
// that drives one tab of it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // a container's root user has no sandbox
		chromedp.DisableGPU,
		chromedp.WindowSize(1600, 1000),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// page is the status page of one wrapper, as a browser shows it.
type page struct {
	t   *testing.T
	ctx context.Context
	id  string // the wrapper's section: Wrapper/Instance
}

func (p *page) breaker(sel string) string {
	return `section[data-id="` + p.id + `"] tr[data-breaker="ResilientInventory"] ` + sel
}

func (p *page) method(name, sel string) string {
	return `section[data-id="` + p.id + `"] tr[data-method="` + name + `"] ` + sel
}

// waitText waits until the text of the element sel selects contains
// want, and fails the test with what it shows when it does not within 10s.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	var got string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, time.Second)
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil {
			got = text
		}
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		if err != nil && p.ctx.Err() != nil {
			p.t.Fatalf("browser gone: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("the page shows %q at %s, want it to contain %q", got, sel, want)
}

// waitVisible waits until sel selects a visible element.
func (p *page) waitVisible(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("#root")))
		p.t.Fatalf("waiting for %s: %v\npage: %s", sel, err, html)
	}
}

func (p *page) click(sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("clicking %s: %v", sel, err)
	}
}

func (p *page) count(sel string) int {
	p.t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		p.t.Fatalf("counting %s: %v", sel, err)
	}
	return n
}

// TestStatusPageInChromium drives a wrapper's breaker open and closed and
// back, by calls that fail and succeed and by the page's buttons, and
// checks at each step what a person sees in Chromium: the breaker's state
// and transitions, the calls and failures by class, the last errors, and
// that the page's actions move the real breaker.
func TestStatusPageInChromium(t *testing.T) {
	findChromium(t)
	clock := fakeclock.New(time.Now()) // the breaker's recovery_timeout moves when the test says
	warehouse := &inventory.Warehouse{}
	client, err := inventory.NewResilientInventory(warehouse,
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithInstance("browser"),
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "max_attempts", Value: "1"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Resilience().Close()
	mgr := client.Resilience()

	status := statusz.New(statusz.WithActions(), statusz.WithInterval(100*time.Millisecond))
	readonly := statusz.New(statusz.WithInterval(100 * time.Millisecond))
	for _, h := range []*statusz.Handler{status, readonly} {
		if err := h.Register(mgr); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/resgen/", status)
	mux.Handle("/readonly/", readonly)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the browser's cleanup: the page's stream ends with the browser
	ctx := browser(t)

	p := &page{t: t, ctx: ctx, id: "ResilientInventory/browser"}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/debug/resgen/")); err != nil {
		t.Fatal(err)
	}
	p.waitVisible(`#conn[data-live="true"]`)
	p.waitVisible(p.breaker(`.state[data-state="CLOSED"]`))
	p.waitText(p.breaker(".transitions"), "none")

	call := func(wantErr bool) {
		t.Helper()
		_, err := client.Stock(context.Background(), "sku-1")
		if (err != nil) != wantErr {
			t.Fatalf("Stock: %v, want an error: %v", err, wantErr)
		}
	}
	// Two calls that succeed, then an outage: three failures open the
	// breaker, and the page shows it.
	call(false)
	call(false)
	warehouse.SetDown(true)
	for range 3 {
		call(true)
	}
	if s, _ := mgr.BreakerState("ResilientInventory"); s != runtime.StateOpen {
		t.Fatalf("the breaker is %v after 3 failures", s)
	}
	p.waitVisible(p.breaker(`.state[data-state="OPEN"]`))
	p.waitText(p.breaker(".transitions"), "CLOSED → OPEN (3 failures)")
	p.waitText(p.method("Stock", ".calls"), "5")
	p.waitText(p.method("Stock", ".failures"), "3")
	p.waitText(p.method("Stock", ".classes"), "server: 3")
	p.waitText(p.method("Stock", ".errors"), "[server, attempt 1] warehouse down (500)")
	p.waitVisible(p.method("Stock", `.state[data-state="OPEN"]`))
	p.waitText(p.method("Stock", ".limiter"), "/ 50 tokens, 6000/min, wait")

	// Open, it fails fast: the page counts the rejection.
	if _, err := client.Stock(context.Background(), "sku-1"); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Stock while open: %v", err)
	}
	p.waitText(p.method("Stock", ".rejected"), "1")

	// The service comes back; after recovery_timeout (2s) a probe closes it.
	warehouse.SetDown(false)
	clock.Advance(2 * time.Second)
	call(false)
	p.waitVisible(p.breaker(`.state[data-state="CLOSED"]`))
	p.waitText(p.breaker(".transitions"), "HALF_OPEN → CLOSED")
	p.waitText(p.breaker(".transitions"), "OPEN → HALF_OPEN")

	// An operator forces it open from the page: the real breaker fails
	// every call fast, and the page says it is forced.
	p.click(p.breaker(`button[data-mode="open"]`))
	p.waitVisible(p.breaker(`.state[data-state="OPEN"]`))
	p.waitText(p.breaker(".forced"), "forced open")
	p.waitText(p.breaker(".transitions"), "CLOSED → OPEN (forced)")
	if s, _ := mgr.BreakerState("ResilientInventory"); s != runtime.StateOpen {
		t.Fatalf("the breaker is %v after the page forced it open", s)
	}
	clock.Advance(time.Hour)
	if _, err := client.Stock(context.Background(), "sku-1"); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Stock while forced open: %v", err)
	}
	if os.Getenv("RESGEN_SCREENSHOT") != "" {
		screenshot(t, ctx, os.Getenv("RESGEN_SCREENSHOT"))
	}

	// Forced closed, failures do not open it.
	p.click(p.breaker(`button[data-mode="closed"]`))
	p.waitVisible(p.breaker(`.state[data-state="CLOSED"]`))
	p.waitText(p.breaker(".forced"), "forced closed")
	warehouse.SetDown(true)
	for range 5 {
		call(true)
	}
	if s, _ := mgr.BreakerState("ResilientInventory"); s != runtime.StateClosed {
		t.Fatalf("the breaker is %v while forced closed", s)
	}

	// Back to normal: the breaker follows the calls again.
	p.click(p.breaker(`button[data-mode="normal"]`))
	p.waitText(p.breaker("td:nth-child(3)"), "no")
	for range 3 {
		call(true)
	}
	p.waitVisible(p.breaker(`.state[data-state="OPEN"]`))
	p.waitText(p.breaker(".transitions"), "CLOSED → OPEN (3 failures)")

	// Without WithActions the page offers no buttons.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/readonly/")); err != nil {
		t.Fatal(err)
	}
	p.waitVisible(p.breaker(`.state[data-state="OPEN"]`))
	p.waitText(p.breaker(".actions"), "off")
	if n := p.count("button"); n != 0 {
		t.Errorf("the read-only page shows %d buttons", n)
	}
}

// screenshot saves the page as a PNG (quality 100 is PNG) (RESGEN_SCREENSHOT=path), for the
// README.
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
