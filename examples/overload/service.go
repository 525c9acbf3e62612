// Command overload measures how the built-in profiles' wrappers behave
// when the service they call loses capacity: a brownout must not become an
// outage. It drives a real loopback HTTP server (a worker pool behind a
// bounded queue that answers 503 at once when full) open-loop, with a
// deadline on every call, through the bare client and through one wrapper
// per built-in profile as shipped, each against a fresh server, and
// prints per phase the goodput, attempts per call, p99 latency, breaker
// openings and the time to recover, against resgen's targets.
//
//	go run ./examples/overload                      # every scenario, every profile (minutes)
//	go run ./examples/overload -scenario brownout -profiles api,database
//	go run ./examples/overload -svg docs/overload-brownout.svg
package main

import "context"

// Service is the connector under load: one call, one value. Client is
// its implementation over HTTP. The go:generate lines below wrap it once
// per built-in profile (APIService, DatabaseService, ...), each with the
// profile as shipped; the directive turns the client-side rate limit off
// for all of them, since what drops in these scenarios is the service's
// capacity, not the client's allowance.
//
//resgen:rate_limit off
type Service interface {
	// Get returns the value of key.
	Get(ctx context.Context, key string) (string, error)
}

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile api -name APIService -output api_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile database -name DatabaseService -output database_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile default -name DefaultService -output default_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile development -name DevelopmentService -output development_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile file -name FileService -output file_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile production-postgres -name ProductionPostgresService -output production_postgres_service_resilient.go
//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Service -profile production-shopify -name ProductionShopifyService -output production_shopify_service_resilient.go
