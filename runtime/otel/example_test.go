package otel_test

import (
	"context"
	"fmt"
	"slices"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	resgenotel "github.com/resgen-dev/resgen/runtime/otel"
)

// A wrapper reports its calls to OpenTelemetry: here to an in-memory span
// recorder, where a service would give its TracerProvider and
// MeterProvider (or set the global ones). The call that the warehouse
// fails once is a span with one child span per attempt.
func Example() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	in, err := resgenotel.New(resgenotel.WithTracerProvider(tp))
	if err != nil {
		panic(err)
	}
	defer in.Close()
	warehouse := &inventory.Warehouse{}
	client, err := inventory.NewResilientInventory(&failOnce{Inventory: warehouse}, in.Option(), runtime.WithLogger(nil))
	if err != nil {
		panic(err)
	}
	defer client.Resilience().Close()
	if err := in.Add(client.Resilience()); err != nil { // the metrics read from the Manager
		panic(err)
	}

	if _, err := client.Stock(context.Background(), "sku-1"); err != nil {
		panic(err)
	}
	ended := spans.Ended()
	slices.SortFunc(ended, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	for _, s := range ended {
		indent := ""
		if s.Parent().IsValid() {
			indent = "  "
		}
		fmt.Printf("%s%s %s\n", indent, s.Name(), s.Status().Code)
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case resgenotel.KeyAttempt, resgenotel.KeyErrorType, resgenotel.KeyOutcome, resgenotel.KeyAttempts:
				fmt.Printf("%s  %s=%s\n", indent, kv.Key, kv.Value.Emit())
			}
		}
	}
	// Output:
	// ResilientInventory.Stock Unset
	//   resgen.attempts=2
	//   resgen.outcome=success
	//   ResilientInventory.Stock attempt Error
	//     resgen.attempt=1
	//     error.type=server
	//   ResilientInventory.Stock attempt Unset
	//     resgen.attempt=2
}

// failOnce fails its first call with a server error.
type failOnce struct {
	inventory.Inventory
	failed bool
}

func (f *failOnce) Stock(ctx context.Context, sku string) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, &inventory.StatusError{Code: 500, Msg: "warehouse down"}
	}
	return f.Inventory.Stock(ctx, sku)
}
