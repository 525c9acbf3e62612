package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/resgen-dev/resgen/runtime"
)

// A Connector wrapped by the generated ResilientCatalog. The reads look
// the same as the connector's; underneath, a killed backend is reconnected
// and the read tried again, and a renamed column is looked up in
// information_schema and the read tried again with its new name.
//
// It needs a server with a table items (id, name, price_cents), so it is
// compiled but not run; postgres_test.go runs the same against the real
// server.
func ExampleNewResilientCatalog() {
	ctx := context.Background()
	conn, err := Connect(ctx, Config{
		DSN:             "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		Table:           "items",
		ApplicationName: "catalog",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	var cat Catalog
	cat, err = NewResilientCatalog(conn, runtime.WithLogger(slog.Default()))
	if err != nil {
		log.Fatal(err)
	}

	it, err := cat.GetItem(ctx, 42)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(it.Name)

	// The rows of StreamItems outlive the call: the wrapper lifts the
	// attempt's timeout when it succeeds, and the caller closes them.
	rows, err := cat.StreamItems(ctx, 0, 100)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		it, err := ScanItem(rows)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.ID, it.Name, it.PriceCents)
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err) // a failure while reading is the caller's: the wrapper has returned
	}

	m, _ := cat.(*ResilientCatalog).Resilience().MethodMetrics("GetItem")
	fmt.Println("reconnects and schema adaptations:", m.RecoveriesSucceeded)
}
