package classify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

var pods = schema.GroupResource{Resource: "pods"}

// awsError builds the error an AWS SDK v2 operation returns for an HTTP
// response with status and the service's error api.
func awsError(status int, api error) error {
	return &smithy.OperationError{
		ServiceID:     "DynamoDB",
		OperationName: "GetItem",
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
				Err:      api,
			},
			RequestID: "R1",
		},
	}
}

func genericAPI(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "from the service", Fault: smithy.FaultServer}
}

// rpcFailure is an error of a gRPC service's own type: it carries its
// status through GRPCStatus, as status.FromError finds it, under a message
// of its own.
type rpcFailure struct{ st *status.Status }

func (e rpcFailure) Error() string              { return "inventory backend failed" }
func (e rpcFailure) GRPCStatus() *status.Status { return e.st }

// TestClassifyRealClientErrors: the errors of Kubernetes, etcd, the AWS SDK
// and gRPC were of class unknown, so never retried.
func TestClassifyRealClientErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    runtime.Class
		retried bool // by the default retry_on, transient
	}{
		// Kubernetes: *apierrors.StatusError, its status in Status().
		{"k8s NewServiceUnavailable", apierrors.NewServiceUnavailable("etcd is down"), runtime.ClassServer, true},
		{"k8s NewTooManyRequests", apierrors.NewTooManyRequests("slow down", 3), runtime.ClassRateLimited, true},
		{"k8s NewTooManyRequestsError", apierrors.NewTooManyRequestsError("too many"), runtime.ClassRateLimited, true},
		{"k8s NewServerTimeout", apierrors.NewServerTimeout(pods, "list", 2), runtime.ClassTimeout, true},
		{"k8s NewTimeoutError", apierrors.NewTimeoutError("watch", 1), runtime.ClassTimeout, true},
		{"k8s NewInternalError", apierrors.NewInternalError(errors.New("boom")), runtime.ClassServer, true},
		{"k8s 503 from an unexpected response", apierrors.NewGenericServerResponse(503, "get", pods, "web-0", "", 0, true), runtime.ClassServer, true},
		{"k8s NewUnauthorized", apierrors.NewUnauthorized("token expired"), runtime.ClassAuth, false},
		{"k8s NewNotFound", apierrors.NewNotFound(pods, "web-0"), runtime.ClassPermanent, false},
		{"k8s NewConflict", apierrors.NewConflict(pods, "web-0", errors.New("stale resourceVersion")), runtime.ClassPermanent, false},
		{"k8s NewForbidden", apierrors.NewForbidden(pods, "web-0", errors.New("rbac")), runtime.ClassPermanent, false},
		{"k8s NewBadRequest", apierrors.NewBadRequest("bad"), runtime.ClassPermanent, false},
		{"k8s NewResourceExpired", apierrors.NewResourceExpired("too old"), runtime.ClassPermanent, false},

		// etcd: rpctypes' errors, gRPC codes behind Code() or in a status.
		{"etcd ErrNoLeader", rpctypes.ErrNoLeader, runtime.ClassConnection, true},
		{"etcd ErrGRPCNoLeader", rpctypes.ErrGRPCNoLeader, runtime.ClassConnection, true},
		{"etcd ErrLeaderChanged", rpctypes.ErrLeaderChanged, runtime.ClassConnection, true},
		{"etcd ErrTimeout", rpctypes.ErrTimeout, runtime.ClassConnection, true},
		{"etcd ErrTooManyRequests", rpctypes.ErrTooManyRequests, runtime.ClassRateLimited, true},
		{"etcd ErrInvalidAuthToken", rpctypes.ErrInvalidAuthToken, runtime.ClassAuth, false},
		{"etcd ErrPermissionDenied", rpctypes.ErrPermissionDenied, runtime.ClassPermanent, false},
		{"etcd ErrCompacted", rpctypes.ErrCompacted, runtime.ClassPermanent, false},
		{"etcd ErrKeyNotFound", rpctypes.ErrKeyNotFound, runtime.ClassPermanent, false},
		{"etcd rpctypes.Error of a status", rpctypes.Error(status.Error(codes.Unavailable, "etcdserver: request timed out")), runtime.ClassConnection, true},

		// The AWS SDK v2: OperationError → ResponseError → the API error.
		{"AWS 503", awsError(503, genericAPI("ServiceUnavailable")), runtime.ClassServer, true},
		{"AWS 500 without a code", awsError(500, errors.New("internal")), runtime.ClassServer, true},
		{"AWS ThrottlingException at 400", awsError(400, genericAPI("ThrottlingException")), runtime.ClassRateLimited, true},
		{"AWS Throttling at 400", awsError(400, genericAPI("Throttling")), runtime.ClassRateLimited, true},
		{"AWS RequestLimitExceeded at 503", awsError(503, genericAPI("RequestLimitExceeded")), runtime.ClassRateLimited, true},
		{"AWS TooManyRequestsException at 429", awsError(429, genericAPI("TooManyRequestsException")), runtime.ClassRateLimited, true},
		{"AWS S3 SlowDown at 503", awsError(503, genericAPI("SlowDown")), runtime.ClassRateLimited, true},
		{"AWS DynamoDB ProvisionedThroughputExceededException", awsError(400, &types.ProvisionedThroughputExceededException{Message: aws.String("rate")}), runtime.ClassRateLimited, true},
		{"AWS RequestTimeout at 400", awsError(400, genericAPI("RequestTimeout")), runtime.ClassTimeout, true},
		{"AWS DynamoDB ResourceNotFoundException", awsError(400, &types.ResourceNotFoundException{Message: aws.String("no table")}), runtime.ClassPermanent, false},
		{"AWS DynamoDB ConditionalCheckFailedException", awsError(400, &types.ConditionalCheckFailedException{Message: aws.String("no")}), runtime.ClassPermanent, false},
		{"AWS 403", awsError(403, genericAPI("AccessDeniedException")), runtime.ClassPermanent, false},
		{"AWS send failed", &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &smithyhttp.RequestSendError{Err: errors.New("tls: handshake failure")}}, runtime.ClassConnection, true},
		{"AWS send refused", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, runtime.ClassConnection, true},
		{"AWS request canceled", &aws.RequestCanceledError{Err: errors.New("request canceled")}, runtime.ClassCanceled, false},
		{"AWS request canceled by its deadline", &aws.RequestCanceledError{Err: context.DeadlineExceeded}, runtime.ClassTimeout, true},

		// gRPC: status errors, and errors that carry a status.
		{"gRPC Unavailable", status.Error(codes.Unavailable, "connection refused"), runtime.ClassConnection, true},
		{"gRPC ResourceExhausted", status.Error(codes.ResourceExhausted, "quota"), runtime.ClassRateLimited, true},
		{"gRPC DeadlineExceeded", status.Error(codes.DeadlineExceeded, "slow"), runtime.ClassTimeout, true},
		{"gRPC NotFound", status.Error(codes.NotFound, "no such order"), runtime.ClassPermanent, false},
		{"gRPC Unknown", status.Error(codes.Unknown, "???"), runtime.ClassUnknown, false},
		{"gRPC status under a message of its own", rpcFailure{status.New(codes.Unavailable, "down")}, runtime.ClassConnection, true},
		{"gRPC Aborted under a message of its own", rpcFailure{status.New(codes.Aborted, "txn")}, runtime.ClassTransient, true},
		{"gRPC nil status", rpcFailure{nil}, runtime.ClassUnknown, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{tt.err, fmt.Errorf("reconcile: %w", fmt.Errorf("get: %w", tt.err))} {
				if got := runtime.Classify(err); got != tt.want {
					t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
				}
				attempts, _ := failingCall(t, err)
				if retried := attempts > 1; retried != tt.retried {
					t.Errorf("%v: %d attempts with the default policy, retried = %v, want %v", err, attempts, retried, tt.retried)
				}
			}
		})
	}
}

// TestKubernetesRetryAfterIsHonoured: a 429 of the Kubernetes API says how
// long to wait in its details.
func TestKubernetesRetryAfterIsHonoured(t *testing.T) {
	d, ok := runtime.RetryAfter(fmt.Errorf("list pods: %w", apierrors.NewTooManyRequests("slow down", 3)))
	if !ok || d != 3*time.Second {
		t.Fatalf("RetryAfter = %v, %v; want 3s, true", d, ok)
	}
	if _, ok := runtime.RetryAfter(apierrors.NewServiceUnavailable("down")); ok {
		t.Fatal("a 503 without a delay has a RetryAfter")
	}
}

// failingCall makes one call through a method with the default retry
// policy (three attempts) whose every attempt fails with err.
func failingCall(t *testing.T, err error) (int, error) {
	t.Helper()
	spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: runtime.Config{
		Retry:     runtime.RetryConfig{InitialDelay: time.Nanosecond, MaxDelay: time.Nanosecond, Jitter: runtime.JitterNone},
		RateLimit: runtime.RateLimitConfig{Disabled: true},
	}}}}
	clock := fakeclock.New(time.Unix(1_000_000, 0)) // a Retry-After of Kubernetes' passes at once
	m, merr := resgenimpl.NewManager(nil, spec, runtime.WithLogger(nil), runtime.WithClock(clock))
	if merr != nil {
		t.Fatal(merr)
	}
	me := m.Method(0)
	ctx := context.Background()
	var c resgenimpl.Call
	for attempts := 1; ; attempts++ {
		if aerr := me.Admit(ctx, &c); aerr != nil {
			return attempts - 1, aerr
		}
		if ferr := me.Failure(ctx, &c, err); ferr != nil {
			return attempts, ferr
		}
		go func() {
			clock.BlockUntil(1)
			clock.Advance(time.Hour)
		}()
		if berr := me.Backoff(ctx, &c); berr != nil {
			t.Fatal(berr)
		}
	}
}
