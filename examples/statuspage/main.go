// Command statuspage serves resgen's live status page (runtime/statusz)
// for a wrapped client whose service goes down now and then, so that one
// can watch its breaker open and close, its rate limit's tokens, its
// calls and failures by class and its last errors, and force the breaker
// open, closed or back to normal from the page.
//
// Run it with nothing to install, and open the address it prints:
//
//	go run ./examples/statuspage
//
// Flags:
//
//	-addr A        where to listen (default 127.0.0.1:8080)
//	-outage D      how long each outage of the service lasts (default 5s)
//	-every D       how often an outage starts (default 20s)
//	-duration D    stop after D (default: run until interrupted)
//	-actions       let the page force the breaker (default true: a demo)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/statusz"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "where to listen")
	outage := flag.Duration("outage", 5*time.Second, "how long each outage lasts")
	every := flag.Duration("every", 20*time.Second, "how often an outage starts")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	actions := flag.Bool("actions", true, "let the page force the breaker")
	flag.Parse()
	if err := run(*addr, *outage, *every, *duration, *actions); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, outage, every, duration time.Duration, actions bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}

	d, err := newDemo(actions, os.Stdout)
	if err != nil {
		return err
	}
	defer d.client.Resilience().Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.mux, ReadHeaderTimeout: 5 * time.Second}
	srv.RegisterOnShutdown(d.status.Close) // end the pages' event streams
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("status page: http://%s/debug/resgen/ (outages of %v every %v)\n", ln.Addr(), outage, every)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() { load(ctx, d.client, g) })
	}
	wg.Go(func() { outages(ctx, d.warehouse, outage, every) })
	<-ctx.Done()
	wg.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demo is the wrapped warehouse and its status page, mounted at
// /debug/resgen/.
type demo struct {
	warehouse *inventory.Warehouse
	client    *inventory.ResilientInventory
	status    *statusz.Handler
	mux       *http.ServeMux
}

// newDemo builds the demo; it prints the breaker's transitions to out.
func newDemo(actions bool, out io.Writer) (*demo, error) {
	d := &demo{warehouse: &inventory.Warehouse{}}
	var err error
	d.client, err = inventory.NewResilientInventory(d.warehouse,
		runtime.WithInstance("demo"), runtime.WithLogger(nil),
		runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) {
			if e.Kind == runtime.EventStateChange {
				fmt.Fprintf(out, "%s breaker %s: %s -> %s\n", time.Now().Format(time.TimeOnly), e.Breaker, e.From, e.To)
			}
		})))
	if err != nil {
		return nil, err
	}
	var opts []statusz.Option
	if actions {
		opts = append(opts, statusz.WithActions())
	}
	d.status = statusz.New(opts...)
	if err := d.status.Register(d.client.Resilience()); err != nil {
		d.client.Resilience().Close()
		return nil, err
	}
	d.mux = http.NewServeMux()
	d.mux.Handle("/debug/resgen/", d.status)
	return d, nil
}

// load calls the client a few times a second: mostly skus the warehouse
// holds, now and then one it does not (a 404, which the breaker does not
// count).
func load(ctx context.Context, client inventory.Inventory, g int) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sku := "sku-" + strconv.Itoa(g*1000+i)
		if i%25 == 0 {
			sku = "?" + sku
		}
		if i%3 == 0 {
			_ = client.Reserve(ctx, sku, 1)
		} else {
			_, _ = client.Stock(ctx, sku)
		}
	}
}

// outages takes the warehouse down for outage every every.
func outages(ctx context.Context, w *inventory.Warehouse, outage, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(every-outage, 0)):
		}
		fmt.Printf("%s the warehouse goes down for %v\n", time.Now().Format(time.TimeOnly), outage)
		w.SetDown(true)
		select {
		case <-ctx.Done():
			return
		case <-time.After(outage):
		}
		fmt.Printf("%s the warehouse is back\n", time.Now().Format(time.TimeOnly))
		w.SetDown(false)
	}
}
