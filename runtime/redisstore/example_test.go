package redisstore_test

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
)

// Pass the Store to a generated constructor with runtime.WithStore: every
// process that does so with the same Redis and prefix shares the wrapper's
// breaker and rate limits.
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // let go-redis itself honour the Store's timeout
	})
	defer client.Close()
	store := redisstore.New(client, redisstore.WithPrefix("shop:"), redisstore.WithTimeout(20*time.Millisecond))
	defer store.Close() // stops its background goroutines
	opt := runtime.WithStore(store)
	_ = opt // e.g. shop.NewResilientStore(inner, opt)
}
