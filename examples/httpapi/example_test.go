package main

import (
	"context"
	"fmt"

	"github.com/resgen-dev/resgen/runtime"
)

// A Client wrapped by the generated ResilientShop, against the loopback
// server: the wrapper retries two 503s, and refreshes a revoked token,
// without the caller seeing either.
func ExampleNewResilientShop() {
	srv, err := StartServer(ServerConfig{}) // no random faults: the example's are deterministic
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client, err := NewClient(srv.URL(), demoClientID, demoClientSecret, nil)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// The api profile waits 2s before its first retry; 20ms will do here.
	var shop Shop
	shop, err = NewResilientShop(client,
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "initial_delay", Value: "20ms"}}),
		runtime.WithLogger(nil))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	srv.FailNext(2) // the next two requests fail with 503
	o, err := shop.GetOrder(ctx, 7)
	fmt.Println("order", o.ID, "error", err)

	srv.RevokeTokens() // the next request gets 401
	o, err = shop.GetOrder(ctx, 8)
	fmt.Println("order", o.ID, "error", err)

	m, _ := shop.(*ResilientShop).Resilience().MethodMetrics("GetOrder")
	fmt.Printf("calls %d, successes %d, retries %d, credential refreshes %d\n",
		m.Calls, m.Successes, m.RetryAttempts, m.RecoveriesSucceeded)
	st := srv.Stats()
	fmt.Printf("server: %d requests, %d × 503, %d × 401, %d tokens issued\n",
		st.Requests, st.Unavailable, st.Unauthorized, st.Tokens)
	// Output:
	// order 7 error <nil>
	// order 8 error <nil>
	// calls 2, successes 2, retries 3, credential refreshes 1
	// server: 5 requests, 2 × 503, 1 × 401, 2 tokens issued
}
