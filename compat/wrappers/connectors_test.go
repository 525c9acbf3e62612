package wrappers_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.mongodb.org/mongo-driver/mongo"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/resgen-dev/resgen/compat/wrappers"
	"github.com/resgen-dev/resgen/runtime"
)

// The wrappers implement the real interfaces, including those whose
// unexported methods they forward (MongoDB's Session, OpenTelemetry's
// Tracer and TracerProvider, protobuf's Message).
var (
	_ typedcorev1.PodInterface       = (*wrappers.ResilientPods)(nil)
	_ client.Client                  = (*wrappers.ResilientControllerClient)(nil)
	_ clientv3.KV                    = (*wrappers.ResilientEtcdKV)(nil)
	_ sarama.SyncProducer            = (*wrappers.ResilientSyncProducer)(nil)
	_ jetstream.Publisher            = (*wrappers.ResilientJetStreamPublisher)(nil)
	_ healthpb.Health_WatchClient    = (*wrappers.ResilientHealthWatch)(nil)
	_ mongo.Session                  = (*wrappers.ResilientMongoSession)(nil)
	_ trace.Tracer                   = (*wrappers.ResilientTracer)(nil)
	_ trace.TracerProvider           = (*wrappers.ResilientTracerProvider)(nil)
	_ protoreflect.Message           = (*wrappers.ResilientProtoMessage)(nil)
	_ wrappers.S3API                 = (*wrappers.ResilientS3)(nil)
	_ net.Conn                       = (*wrappers.ResilientNetConn)(nil)
	_ fs.FS                          = (*wrappers.ResilientFS)(nil)
	_ driver.Conn                    = (*wrappers.ResilientDriverConn)(nil)
	_ io.ReadWriteCloser             = (*wrappers.ResilientReadWriteCloser)(nil)
	_ http.RoundTripper              = (*wrappers.ResilientRoundTripper)(nil)
	_ grpc.ClientConnInterface       = (*wrappers.ResilientClientConn)(nil)
	_ healthpb.HealthClient          = (*wrappers.ResilientHealthClient)(nil)
	_ typedcorev1.ConfigMapInterface = (*wrappers.ResilientConfigMaps)(nil)
)

// fast is the options of every wrapper under test: no logs, no rate
// limit, backoffs of a millisecond.
func fast() []runtime.Option {
	return []runtime.Option{runtime.WithLogger(nil), runtime.WithConfig(runtime.Settings{
		{Policy: "rate_limit", Value: "off"},
		{Policy: "retry", Key: "initial_delay", Value: "1ms"},
		{Policy: "retry", Key: "max_delay", Value: "1ms"},
	})}
}

// failing fails its first calls with errs, one each, then succeeds.
type failing struct {
	errs  []error
	calls int
}

func (f *failing) next() error {
	f.calls++
	if f.calls <= len(f.errs) {
		return f.errs[f.calls-1]
	}
	return nil
}

// must returns a function that returns w, failing the test on err:
// must(NewResilientX(inner))(t).
func must[W any](w W, err error) func(*testing.T) W {
	return func(t *testing.T) W {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}

// check says whether a call with the wrapper ended as it should: retried
// to success (calls attempts, no error), or returned at once with the
// client's error unchanged for errors.Is.
func check(t *testing.T, f *failing, err error, wantCalls int, wantErr error) {
	t.Helper()
	if f.calls != wantCalls {
		t.Errorf("%d calls, want %d", f.calls, wantCalls)
	}
	switch {
	case wantErr == nil && err != nil:
		t.Errorf("error %v, want success after retries", err)
	case wantErr != nil && !errors.Is(err, wantErr):
		t.Errorf("error %v, want %v", err, wantErr)
	}
}

var pods = schema.GroupResource{Resource: "pods"}

type fakePods struct {
	typedcorev1.PodInterface
	failing
}

func (f *fakePods) Get(ctx context.Context, name string, o metav1.GetOptions) (*corev1.Pod, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
}

// TestKubernetesPods: client-go's API errors, as the API server returns
// them: 503 and a server timeout are retried, 404 is returned at once.
func TestKubernetesPods(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		retried   bool
	}{
		{"service unavailable", apierrors.NewServiceUnavailable("etcd is down"), 2, true},
		{"server timeout", apierrors.NewServerTimeout(pods, "get", 0), 2, true},
		{"not found", apierrors.NewNotFound(pods, "web-0"), 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakePods{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientPods(inner, fast()...))(t)
			p, err := w.Get(context.Background(), "web-0", metav1.GetOptions{})
			if tc.retried {
				check(t, &inner.failing, err, tc.wantCalls, nil)
				if err == nil && p.Name != "web-0" {
					t.Errorf("pod %q", p.Name)
				}
				return
			}
			check(t, &inner.failing, err, tc.wantCalls, tc.err)
			if !apierrors.IsNotFound(err) {
				t.Errorf("apierrors.IsNotFound(%v) = false", err)
			}
		})
	}
}

type fakeClient struct {
	client.Client
	failing
}

func (f *fakeClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return f.next()
}

// TestControllerRuntimeClient: a 429 without Retry-After and an internal
// error are retried; a conflict is not.
func TestControllerRuntimeClient(t *testing.T) {
	conflict := apierrors.NewConflict(pods, "web-0", errors.New("the object has been modified"))
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"too many requests", []error{apierrors.NewTooManyRequests("slow down", 0)}, 2, nil},
		{"internal error", []error{apierrors.NewInternalError(errors.New("boom"))}, 2, nil},
		{"conflict", []error{conflict}, 1, conflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeClient{failing: failing{errs: tc.errs}}
			w := must(wrappers.NewResilientControllerClient(inner, fast()...))(t)
			err := w.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "web-0"}, &corev1.Pod{})
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
		})
	}
}

type fakeKV struct {
	clientv3.KV
	failing
}

func (f *fakeKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &clientv3.GetResponse{Count: 1}, nil
}

// TestEtcdKV: etcd's "no leader" (an election in progress) is retried; a
// request too large is not.
func TestEtcdKV(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"no leader", rpctypes.ErrNoLeader, 2, nil},
		{"grpc no leader", rpctypes.ErrGRPCNoLeader, 2, nil},
		{"request too large", rpctypes.ErrRequestTooLarge, 1, rpctypes.ErrRequestTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeKV{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientEtcdKV(inner, fast()...))(t)
			_, err := w.Get(context.Background(), "k")
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
		})
	}
}

type fakeS3 struct {
	wrappers.S3API
	failing
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &s3.GetObjectOutput{}, nil
}

// s3Error is the error *s3.Client returns for an HTTP status and the
// service's error.
func s3Error(status int, api error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err:      api,
	}}
}

// TestS3: a 503 SlowDown is retried; NoSuchKey (404) is not.
func TestS3(t *testing.T) {
	noKey := s3Error(404, &s3types.NoSuchKey{})
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"503 slow down", s3Error(503, &smithy.GenericAPIError{Code: "SlowDown", Message: "reduce your request rate"}), 2, nil},
		{"no such key", noKey, 1, noKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeS3{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientS3(inner, fast()...))(t)
			_, err := w.GetObject(context.Background(), &s3.GetObjectInput{})
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
			var nk *s3types.NoSuchKey
			if tc.wantErr != nil && !errors.As(err, &nk) {
				t.Errorf("errors.As(*NoSuchKey) fails on %v", err)
			}
		})
	}
}

type fakeHealth struct {
	healthpb.HealthClient
	failing
}

func (f *fakeHealth) Check(ctx context.Context, in *healthpb.HealthCheckRequest, opts ...grpc.CallOption) (*healthpb.HealthCheckResponse, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestGRPCHealth: a generated unary client; Unavailable is retried,
// InvalidArgument is not.
func TestGRPCHealth(t *testing.T) {
	invalid := status.Error(codes.InvalidArgument, "bad service name")
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), 2, nil},
		{"invalid argument", invalid, 1, invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeHealth{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientHealthClient(inner, fast()...))(t)
			_, err := w.Check(context.Background(), &healthpb.HealthCheckRequest{})
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
		})
	}
}

type fakeWatch struct {
	grpc.ClientStream
	failing
}

func (f *fakeWatch) Recv() (*healthpb.HealthCheckResponse, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{}, nil
}
func (f *fakeWatch) Header() (metadata.MD, error) { return nil, nil }

// TestGRPCStreamNotRetried: a generated stream client (an alias of
// grpc.ServerStreamingClient[T]); its Recv that fails with Unavailable
// returns at once, as does the end of the stream.
func TestGRPCStreamNotRetried(t *testing.T) {
	for _, want := range []error{status.Error(codes.Unavailable, "stream reset"), io.EOF} {
		inner := &fakeWatch{failing: failing{errs: []error{want, want}}}
		// Without fast(): a run-time retry setting would turn retry on.
		w := must(wrappers.NewResilientHealthWatch(inner, runtime.WithLogger(nil)))(t)
		_, err := w.Recv()
		check(t, &inner.failing, err, 1, want)
	}
}

type fakeProducer struct {
	sarama.SyncProducer
	failing
}

func (f *fakeProducer) SendMessage(msg *sarama.ProducerMessage) (int32, int64, error) {
	if err := f.next(); err != nil {
		return -1, -1, err
	}
	return 3, 42, nil
}

// TestSaramaSyncProducer: Sarama's errors have no shape resgen
// recognizes; resgen.yaml names those that say the message was not
// written, which are retried, and any other is returned at once.
func TestSaramaSyncProducer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"not leader (named in retry_on)", sarama.ErrNotLeaderForPartition, 2, nil},
		{"out of brokers (named in retry_on)", sarama.ErrOutOfBrokers, 2, nil},
		{"message too large", sarama.ErrMessageSizeTooLarge, 1, sarama.ErrMessageSizeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeProducer{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientSyncProducer(inner, fast()...))(t)
			part, off, err := w.SendMessage(&sarama.ProducerMessage{Topic: "orders", Value: sarama.StringEncoder("x")})
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
			if err == nil && (part != 3 || off != 42) {
				t.Errorf("partition %d offset %d", part, off)
			}
		})
	}
}

type fakePublisher struct {
	jetstream.Publisher
	failing
}

func (f *fakePublisher) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &jetstream.PubAck{Stream: "ORDERS", Sequence: 7}, nil
}

// TestNATSPublisher: "no response from stream" (no server took the
// message), named in resgen.yaml, is retried; a wrong last sequence is not.
func TestNATSPublisher(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   error
	}{
		{"no stream response", jetstream.ErrNoStreamResponse, 2, nil},
		{"deadline", context.DeadlineExceeded, 2, nil},
		{"connection closed", nats.ErrConnectionClosed, 1, nats.ErrConnectionClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakePublisher{failing: failing{errs: []error{tc.err}}}
			w := must(wrappers.NewResilientJetStreamPublisher(inner, fast()...))(t)
			_, err := w.Publish(context.Background(), "orders.new", []byte("x"))
			check(t, &inner.failing, err, tc.wantCalls, tc.wantErr)
		})
	}
}

type fakeDriverConn struct {
	driver.Conn
	failing
}

func (f *fakeDriverConn) Prepare(query string) (driver.Stmt, error) { return nil, f.next() }

// TestSQLDriverConn: driver.ErrBadConn (the connection is broken, the
// statement never ran) is retried.
func TestSQLDriverConn(t *testing.T) {
	inner := &fakeDriverConn{failing: failing{errs: []error{driver.ErrBadConn}}}
	w := must(wrappers.NewResilientDriverConn(inner, fast()...))(t)
	_, err := w.Prepare("SELECT 1")
	check(t, &inner.failing, err, 2, nil)
}

type countingFS struct {
	fstest.MapFS
	opens int
}

func (c *countingFS) Open(name string) (fs.File, error) { c.opens++; return c.MapFS.Open(name) }

// TestFS: a missing file is an answer, returned at once.
func TestFS(t *testing.T) {
	inner := &countingFS{MapFS: fstest.MapFS{"a.txt": {Data: []byte("a")}}}
	w := must(wrappers.NewResilientFS(inner, fast()...))(t)
	if _, err := w.Open("missing.txt"); !errors.Is(err, fs.ErrNotExist) || inner.opens != 1 {
		t.Fatalf("Open = %v after %d opens, want fs.ErrNotExist after 1", err, inner.opens)
	}
	f, err := w.Open("a.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestNetConnLoopback: a wrapped client end of a real TCP pair writes
// what it is given once, and a read deadline that passes ends a Read with
// the real timeout error.
func TestNetConnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	defer server.Close()
	c := must(wrappers.NewResilientNetConn(raw, fast()...))(t)
	defer c.Close()
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline = %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestForwardedUnexportedMethods: the wrappers of interfaces with
// unexported methods of their own packages work where those packages call
// them: an OpenTelemetry tracer starts spans, a protobuf message marshals.
func TestForwardedUnexportedMethods(t *testing.T) {
	tr := must(wrappers.NewResilientTracer(noop.NewTracerProvider().Tracer("compat"), fast()...))(t)
	ctx, span := tr.Start(context.Background(), "op")
	span.End()
	if !trace.SpanFromContext(ctx).SpanContext().Equal(span.SpanContext()) {
		t.Error("the span is not in the returned context")
	}
	m := must(wrappers.NewResilientProtoMessage(wrapperspb.String("hi").ProtoReflect(), fast()...))(t)
	b, err := proto.Marshal(m.Interface())
	if err != nil || len(b) == 0 {
		t.Fatalf("Marshal = %x, %v", b, err)
	}
	if m.ProtoMethods() == nil {
		t.Error("ProtoMethods is nil")
	}
}
