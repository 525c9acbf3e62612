package statusz_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/statusz"
)

// Mount the status page on a mux, register a wrapper, and read what it
// shows as JSON. A browser pointed at /debug/resgen/ gets the live page.
func Example() {
	client, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithInstance("eu"))
	if err != nil {
		panic(err)
	}
	defer client.Resilience().Close()

	status := statusz.New()
	if err := status.Register(client.Resilience()); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/resgen/", status)

	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/debug/resgen/?format=json")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var st statusz.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		panic(err)
	}
	for _, w := range st.Wrappers {
		for _, b := range w.Breakers {
			fmt.Println(w.Wrapper, w.Instance, b.Name, b.State, b.Methods)
		}
	}
	// Output:
	// ResilientInventory eu ResilientInventory CLOSED [Reserve Stock]
}

// With WithActions, an operator can force a breaker open, closed or back
// to normal: a POST of an Action as JSON, with the ActionHeader (the page's
// buttons send exactly this).
func ExampleWithActions() {
	client, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithInstance("eu"))
	if err != nil {
		panic(err)
	}
	defer client.Resilience().Close()
	status := statusz.New(statusz.WithActions())
	if err := status.Register(client.Resilience()); err != nil {
		panic(err)
	}

	body := `{"wrapper":"ResilientInventory","instance":"eu","breaker":"ResilientInventory","mode":"open"}`
	req := httptest.NewRequest(http.MethodPost, "/debug/resgen/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(statusz.ActionHeader, "force")
	rec := httptest.NewRecorder()
	status.ServeHTTP(rec, req)

	state, _ := client.Resilience().BreakerState("ResilientInventory")
	fmt.Println(rec.Code, state)
	// Output:
	// 200 OPEN
}
