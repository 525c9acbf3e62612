package otel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	resgenotel "github.com/resgen-dev/resgen/runtime/otel"
)

// BenchmarkSuccessPath is the cost of a successful call of a generated
// wrapper (retry and breaker; no rate limit and no timeout, whose context would
// cost more than the rest) without
// OpenTelemetry, with it reporting to no-op providers, and with it
// reporting to the SDK (every span sampled, into an in-memory exporter
// that drops them; metrics into a manual reader).
func BenchmarkSuccessPath(b *testing.B) {
	noLimit := runtime.WithConfig(runtime.Settings{{Policy: "rate_limit", Value: "off"}, {Policy: "timeout", Value: "off"}})
	run := func(b *testing.B, opts ...runtime.Option) {
		w, err := inventory.NewResilientInventory(&inventory.Warehouse{}, append([]runtime.Option{runtime.WithLogger(nil), noLimit}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		defer w.Resilience().Close()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.Stock(ctx, "sku"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b) })
	b.Run("otel-noop", func(b *testing.B) {
		in, err := resgenotel.New(resgenotel.WithTracerProvider(tracenoop.NewTracerProvider()),
			resgenotel.WithMeterProvider(noop.NewMeterProvider()))
		if err != nil {
			b.Fatal(err)
		}
		run(b, in.Option())
	})
	b.Run("otel-sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		defer tp.Shutdown(context.Background())
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer mp.Shutdown(context.Background())
		in, err := resgenotel.New(resgenotel.WithTracerProvider(tp), resgenotel.WithMeterProvider(mp))
		if err != nil {
			b.Fatal(err)
		}
		run(b, in.Option())
	})
}
