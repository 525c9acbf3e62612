package classify_test

import (
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/resgen-dev/resgen/runtime"
)

// BenchmarkClassifyRealErrors measures Classify on the clients' own
// errors: the AWS SDK's reach their causes through As methods, and
// Kubernetes' and etcd's codes are read by reflection.
func BenchmarkClassifyRealErrors(b *testing.B) {
	for _, bc := range []struct {
		name string
		err  error
	}{
		{"aws-throttling", awsError(400, genericAPI("ThrottlingException"))},
		{"k8s-503", apierrors.NewServiceUnavailable("down")},
		{"etcd-no-leader", rpctypes.ErrNoLeader},
		{"grpc-unavailable", status.Error(codes.Unavailable, "down")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var c runtime.Class
			for b.Loop() {
				c = runtime.Classify(bc.err)
			}
			_ = c
		})
	}
}
