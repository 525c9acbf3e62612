// Package testenv lets tests use the real services of the machine —
// PostgreSQL and Redis on 127.0.0.1 — and decide what to do without them:
// skip, with a message that says how to run them, or fail when
// RESGEN_INTEGRATION=require (as CI sets it).
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// The services' addresses, overridable with RESGEN_POSTGRES_ADDR and
// RESGEN_REDIS_ADDR.
var (
	PostgresAddr = env("RESGEN_POSTGRES_ADDR", "127.0.0.1:5432")
	RedisAddr    = env("RESGEN_REDIS_ADDR", "127.0.0.1:6379")
)

// PostgresDSN is the connection string of the test database.
func PostgresDSN() string {
	return env("RESGEN_POSTGRES_DSN", "postgres://postgres@"+PostgresAddr+"/test?sslmode=disable")
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Required reports whether integration tests must run (RESGEN_INTEGRATION=require).
func Required() bool { return os.Getenv("RESGEN_INTEGRATION") == "require" }

// NeedService skips the test, or fails it when integration tests are
// required, unless a TCP connection to addr can be made.
func NeedService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if Required() {
		t.Fatalf("%s at %s is required (RESGEN_INTEGRATION=require) but unreachable: %v", name, addr, err)
	}
	t.Skipf("%s at %s is unreachable (%v): skipping; start it, or set RESGEN_INTEGRATION=require to make this a failure", name, addr, err)
}
