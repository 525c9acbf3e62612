// Package redis wraps go-redis v9's Cmdable — an interface of another
// module, with 600-odd methods whose errors hide in their results
// (*redis.StringCmd and friends carry theirs in Err()) — without touching
// its source: resgen.yaml names it, and resgen generates
// ResilientCmdable. Retry, breaker and recovery apply to every command;
// the test proves it against the real Redis server by killing the client's
// connections under it with CLIENT KILL while the client's own retries are
// off.
package redis

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -config resgen.yaml
