package config_test

import (
	"fmt"
	"log"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/config"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// Retune a wrapper at run time, without regenerating it: config.Load reads
// the same YAML from a file.
func ExampleParse() {
	overrides, err := config.Parse([]byte(`
version: 1
wrappers:
  ResilientStore:              # the wrapper's type name
    profile: api               # optional
    timeout: 5s                # wrapper-wide
    methods:
      ListOrders:
        retry: {max_attempts: 7}
      "Create*":
        rate_limit: off
`))
	if err != nil {
		log.Fatal(err)
	}

	// A generated constructor, shop.NewResilientStore(inner,
	// runtime.WithConfig(overrides)), builds its Manager like this, from the
	// configuration that resgen resolved for each method; here, the
	// defaults. The wrapper's Resilience method returns the Manager.
	m, err := resgenimpl.NewManager(nil, &resgenimpl.Spec{
		Wrapper: "ResilientStore",
		Methods: []resgenimpl.MethodSpec{{Name: "ListOrders"}, {Name: "CreateOrder"}, {Name: "Close"}},
	}, runtime.WithConfig(overrides))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	for _, method := range []string{"ListOrders", "CreateOrder", "Close"} {
		c, _ := m.Config(method)
		rate := "off"
		if !c.RateLimit.Disabled {
			rate = fmt.Sprintf("%d/min", c.RateLimit.MaxRequestsPerMinute)
		}
		fmt.Printf("%-11s retry: %d attempts from %v; breaker opens after %d; timeout %v; rate limit %s\n",
			method, c.Retry.MaxAttempts, c.Retry.InitialDelay, c.CircuitBreaker.FailureThreshold, c.Timeout.Duration, rate)
	}
	// Output:
	// ListOrders  retry: 7 attempts from 2s; breaker opens after 3; timeout 5s; rate limit 60/min
	// CreateOrder retry: 5 attempts from 2s; breaker opens after 3; timeout 5s; rate limit off
	// Close       retry: 5 attempts from 2s; breaker opens after 3; timeout 5s; rate limit 60/min
}
