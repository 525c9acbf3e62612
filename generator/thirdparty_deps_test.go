package generator_test

// The testdata/thirdparty_*.txtar cases of cmd/resgen wrap interfaces of
// these modules through resgen.yaml. The cases run in a temporary module
// that copies this module's requires and go.sum, so the modules must stay
// in go.mod: these blank imports keep `go mod tidy` from dropping them.
import (
	_ "github.com/jackc/pgx/v5"
	_ "github.com/redis/go-redis/v9"
	_ "google.golang.org/grpc/health/grpc_health_v1"
)
