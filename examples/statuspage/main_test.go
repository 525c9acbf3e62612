package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/resgen-dev/resgen/runtime/statusz"
)

// TestDemoShowsTheBreakerOpening: the demo's page, at /debug/resgen/,
// shows its wrapper, and the breaker open once the warehouse is down, and
// lets the page force it closed.
func TestDemoShowsTheBreakerOpening(t *testing.T) {
	var out strings.Builder
	d, err := newDemo(true, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.client.Resilience().Close()
	srv := httptest.NewServer(d.mux)
	defer srv.Close()

	d.warehouse.SetDown(true)
	for range 3 {
		if _, err := d.client.Stock(context.Background(), "sku-1"); err == nil {
			t.Fatal("Stock succeeded while the warehouse was down")
		}
	}
	st := getStatus(t, srv.URL+"/debug/resgen/?format=json")
	if len(st.Wrappers) != 1 || st.Wrappers[0].Instance != "demo" {
		t.Fatalf("wrappers: %+v", st.Wrappers)
	}
	if b := st.Wrappers[0].Breakers[0]; b.State != "OPEN" {
		t.Errorf("the page shows the breaker %s after 3 failed calls", b.State)
	}
	if !strings.Contains(out.String(), "breaker ResilientInventory: CLOSED -> OPEN") {
		t.Errorf("the demo printed %q", out.String())
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/debug/resgen/",
		strings.NewReader(`{"wrapper":"ResilientInventory","instance":"demo","breaker":"ResilientInventory","mode":"closed"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(statusz.ActionHeader, "force")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("forcing closed: %s: %s", res.Status, body)
	}
	if s, _ := d.client.Resilience().BreakerState("ResilientInventory"); s.String() != "CLOSED" {
		t.Errorf("the breaker is %v after the page forced it closed", s)
	}
}

func getStatus(t *testing.T, url string) statusz.Status {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st statusz.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
