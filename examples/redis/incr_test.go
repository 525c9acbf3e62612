package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	resgenredis "github.com/resgen-dev/resgen/examples/redis"
	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
)

// replyDropper is a TCP proxy in front of Redis that, for one INCR in
// every, lets Redis run it and then closes the client's
// connection instead of passing the reply on: the command was applied, and
// the client sees its connection closed under it (a bare io.EOF from
// go-redis), exactly as when a connection dies between a command and its
// reply.
type replyDropper struct {
	ln      net.Listener
	every   int64
	incrs   atomic.Int64 // INCRs forwarded
	dropped atomic.Int64 // replies dropped
	wg      sync.WaitGroup
}

func newReplyDropper(t *testing.T, every int64) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln, every: every}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *replyDropper) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// relay forwards one client connection. go-redis sends one command and
// waits for its reply on a connection, so what Redis sends after an INCR
// is its reply.
func (p *replyDropper) relay(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.Dial("tcp", testenv.RedisAddr)
	if err != nil {
		return
	}
	defer server.Close()
	var drop atomic.Bool // drop the reply to the command just sent
	go func() {
		defer server.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if err != nil {
				return
			}
			if bytes.Contains(bytes.ToLower(buf[:n]), []byte("\r\nincr\r\n")) && p.incrs.Add(1)%p.every == 0 {
				drop.Store(true)
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if err != nil {
			return
		}
		if drop.Load() {
			p.dropped.Add(1)
			return // Redis ran the command; the client never hears of it
		}
		if _, err := client.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestIncrIsNeverAppliedTwice: INCR is declared not idempotent in
// resgen.yaml. When the connection closes between Redis running it and its
// reply (a bare io.EOF), the wrapper must not send it again, or the counter
// counts twice; when the connection is refused before anything is sent, it
// must retry.
func TestIncrIsNeverAppliedTwice(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	ctx := context.Background()
	direct := newClient(t)
	key := fmt.Sprintf("resgen:test:incr:%d", time.Now().UnixNano())
	t.Cleanup(func() { direct.Del(ctx, key) })

	t.Run("reply lost after INCR ran", func(t *testing.T) {
		p := newReplyDropper(t, 4)
		c := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1, PoolSize: 2})
		t.Cleanup(func() { c.Close() })
		w, err := resgenredis.NewResilientCmdable(c, runtime.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		const calls = 100
		var failed int
		for i := 0; i < calls; i++ {
			if err := w.Incr(ctx, key).Err(); err != nil {
				if failed++; failed <= 2 {
					t.Logf("INCR: %v (%T)", err, err)
				}
			}
		}
		got, err := direct.Get(ctx, key).Int64()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d INCR calls, %d failed, %d replies dropped, %d INCRs reached Redis; the counter is %d",
			calls, failed, p.dropped.Load(), p.incrs.Load(), got)
		if p.dropped.Load() == 0 {
			t.Fatal("no reply was dropped: the test proves nothing")
		}
		if got > calls {
			t.Fatalf("the counter is %d after %d INCR calls: %d were applied twice", got, calls, got-calls)
		}
		if got != calls || int64(failed) != p.dropped.Load() {
			t.Fatalf("the counter is %d, %d calls failed and %d replies were dropped: want %d, each call applied once and each dropped reply one failed call",
				got, failed, p.dropped.Load(), calls)
		}
	})

	t.Run("refused connection retried", func(t *testing.T) {
		// A port nothing listens on: dialing it is refused.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		var refusals atomic.Int64
		refusals.Store(2)
		c := redis.NewClient(&redis.Options{
			Addr:       testenv.RedisAddr,
			MaxRetries: -1,
			// go-redis retries a failed dial itself (five times by
			// default): once here, so that the refusals reach the wrapper.
			DialerRetries:      1,
			DialerRetryTimeout: time.Millisecond,
			Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				if refusals.Add(-1) >= 0 {
					return d.DialContext(ctx, network, closed)
				}
				return d.DialContext(ctx, network, addr)
			},
		})
		t.Cleanup(func() { c.Close() })
		w, err := resgenredis.NewResilientCmdable(c, runtime.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		before, err := direct.Get(ctx, key).Int64()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if err := w.Incr(ctx, key).Err(); err != nil {
			t.Fatalf("INCR after two refused connections: %v", err)
		}
		after, err := direct.Get(ctx, key).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if after != before+1 {
			t.Fatalf("the counter went from %d to %d, want one more", before, after)
		}
		m, _ := w.Resilience().MethodMetrics("Incr")
		if m.SuccessesAfterRetry != 1 {
			t.Fatalf("%d calls succeeded after a retry, want 1 (the refused attempts retried)", m.SuccessesAfterRetry)
		}
	})
}
