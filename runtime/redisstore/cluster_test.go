package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/store"
)

// A Redis Cluster of the test's own: real redis-server processes with
// cluster mode on, joined by redis-cli --cluster create, killed when the
// test ends.

type redisCluster struct {
	nodes []*exec.Cmd
	addrs []string
}

// lookCluster returns the paths of redis-server and redis-cli, or skips
// (fails under RESGEN_INTEGRATION=require) without them.
func lookCluster(t *testing.T) (server, cli string) {
	t.Helper()
	var errs []string
	for _, name := range []string{"redis-server", "redis-cli"} {
		p, err := exec.LookPath(name)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if name == "redis-server" {
			server = p
		} else {
			cli = p
		}
	}
	if len(errs) > 0 {
		msg := strings.Join(errs, "; ")
		if testenv.Required() {
			t.Fatalf("redis-server and redis-cli are required for the Redis Cluster tests (RESGEN_INTEGRATION=require): %s", msg)
		}
		t.Skipf("redis-server or redis-cli not found (%s): skipping the Redis Cluster tests; install Redis, or set RESGEN_INTEGRATION=require to make this a failure", msg)
	}
	return server, cli
}

// clusterPort returns a free port whose cluster bus port (port+10000) is
// free too.
func clusterPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		l.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// startCluster starts masters with replicas each and waits until the
// cluster serves every slot and every replica is in sync.
func startCluster(t *testing.T, masters, replicas int) *redisCluster {
	t.Helper()
	n := masters * (1 + replicas)
	server, cli := lookCluster(t)
	rc := &redisCluster{}
	t.Cleanup(rc.kill)
	dir := t.TempDir()
	for i := range n {
		port := clusterPort(t)
		nodeDir := filepath.Join(dir, strconv.Itoa(port))
		if err := os.Mkdir(nodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", "1000", "--dir", nodeDir,
			"--save", "", "--appendonly", "no")
		dieWithTest(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		rc.nodes = append(rc.nodes, cmd)
		rc.addrs = append(rc.addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	for _, addr := range rc.addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for deadline := time.Now().Add(5 * time.Second); c.Ping(context.Background()).Err() != nil; {
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s did not start", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Close()
	}
	args := append([]string{"--cluster", "create"}, rc.addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	// Every node must know the whole cluster: a client that asks a node
	// that does not yet gets a partial slot map.
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range rc.addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
				repl, _ := c.Info(context.Background(), "replication").Result()
				if strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up") {
					break
				}
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s not ready after 20s: %v\n%s", addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return rc
}

func (rc *redisCluster) kill() {
	for _, cmd := range rc.nodes {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
}

// client returns a cluster client closed when the test ends; honour says
// whether it honours contexts' deadlines itself.
func (rc *redisCluster) client(t *testing.T, honour bool) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.addrs, ContextTimeoutEnabled: honour, PoolSize: 8})
	t.Cleanup(func() { c.Close() })
	return c
}

// twoStores returns two Stores with their own cluster clients sharing a
// prefix: two processes.
func (rc *redisCluster) twoStores(t *testing.T) (*redisstore.Store, *redisstore.Store) {
	p := fmt.Sprintf("cluster:%s:", t.Name())
	log := slog.New(slog.DiscardHandler)
	a := newStore(t, rc.client(t, true), redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second), redisstore.WithLogger(log))
	b := newStore(t, rc.client(t, false), redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second), redisstore.WithLogger(log))
	return a, b
}

// TestCluster runs the Store's behaviour against a Redis Cluster of three
// masters, through redis.ClusterClient: the scripts of each state touch
// one slot, and state changes published on one node reach subscribers on
// another.
func TestCluster(t *testing.T) {
	rc := startCluster(t, 3, 0)
	for _, tc := range []struct {
		name string
		test func(*testing.T, func(*testing.T) (*redisstore.Store, *redisstore.Store))
	}{
		{"SharedBucketBoundsAdmissions", testSharedBucketBoundsAdmissions},
		{"BucketWaitCancelPause", testBucketWaitCancelPause},
		{"BreakerSharedAcrossStores", testBreakerSharedAcrossStores},
		{"BreakerHalfOpenProbesBounded", testBreakerHalfOpenProbesBounded},
		{"ManagersShareRateLimit", testManagersShareRateLimit},
		{"ManagersShareBreaker", testManagersShareBreaker},
		{"RemoteChangesReachObservers", testRemoteChangesReachObservers},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, rc.twoStores) })
	}
	// redis.NewUniversalClient with several addresses makes a cluster
	// client too.
	t.Run("UniversalClient", func(t *testing.T) {
		testManagersShareBreaker(t, func(t *testing.T) (*redisstore.Store, *redisstore.Store) {
			p := fmt.Sprintf("cluster:%s:", t.Name())
			var ss []*redisstore.Store
			for range 2 {
				c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: rc.addrs, ContextTimeoutEnabled: true})
				t.Cleanup(func() { c.Close() })
				if _, ok := c.(*redis.ClusterClient); !ok {
					t.Fatalf("NewUniversalClient made a %T", c)
				}
				ss = append(ss, newStore(t, c, redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second),
					redisstore.WithLogger(slog.New(slog.DiscardHandler))))
			}
			return ss[0], ss[1]
		})
	})
	for _, tc := range []struct {
		name string
		test func(*testing.T, fleetOf)
	}{
		{"LeasesReturnedAtClose", testLeasesReturnedAtClose},
		{"LeaseNotReturnedAfterRefill", testLeaseNotReturnedAfterRefill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.test(t, fleetOf{
				prefix: fmt.Sprintf("cluster:%s:", t.Name()),
				admin:  rc.client(t, true),
				client: func(t *testing.T) redis.UniversalClient { return rc.client(t, true) },
			})
		})
	}
	t.Run("KeysOfOneStateInOneSlot", func(t *testing.T) { testKeysOfOneStateInOneSlot(t, rc) })
	t.Run("PubSubAcrossNodes", func(t *testing.T) { testPubSubAcrossNodes(t, rc) })
}

// testPubSubAcrossNodes: a breaker whose key lives on another node
// than the one the Store subscribed on still pushes its changes (Redis
// Cluster forwards PUBLISH to every node, also from a script): each
// process learns of the change at once, not at its next poll.
func testPubSubAcrossNodes(t *testing.T, rc *redisCluster) {
	a, b := rc.twoStores(t)
	c := rc.client(t, true)
	// The channel's node and, among breakers named 0, 1, 2..., one on
	// another node.
	p := fmt.Sprintf("cluster:%s:", t.Name())
	chanSlot := slot(p + "events")
	name := ""
	for i := 0; name == ""; i++ {
		n := strconv.Itoa(i)
		if !sameNode(t, c, chanSlot, slot(p+"{breaker:"+n+"}")) {
			name = n
		}
	}
	var mu sync.Mutex
	var seen []store.Change
	ba, _ := a.Breaker(name, breakerCfg)
	bb, _ := b.Breaker(name, breakerCfg)
	bb.(store.Watcher).Watch(func(ch store.Change) {
		mu.Lock()
		seen = append(seen, ch)
		mu.Unlock()
	})
	open(t, ba)
	a.Flush() // a's outcomes reach Redis now; b only hears of them
	// Within the poll's period (1s) b could learn by polling: the push
	// must be much faster.
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker %q (slot on another node than the channel's) opened by one Store: the other heard nothing within 300ms", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if ch := seen[0]; ch.To != runtime.StateOpen || !ch.Remote {
		t.Fatalf("change %+v, want a remote change to OPEN", ch)
	}
	if s := bb.State(); s != runtime.StateOpen {
		t.Fatalf("state %v, want OPEN", s)
	}
}

// sameNode reports whether two slots are served by the same master.
func sameNode(t *testing.T, c *redis.ClusterClient, a, b int) bool {
	t.Helper()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := func(s int) string {
		for _, r := range slots {
			if s >= r.Start && s <= r.End {
				return r.Nodes[0].Addr
			}
		}
		return ""
	}
	return owner(a) == owner(b)
}

// slot returns the Redis Cluster slot of key: CRC16 (XMODEM) of its hash
// tag, the text between the first { and the first } after it when not
// empty, else of the whole key, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// keyRecorder records the keys of every command a client sends, and the
// errors Redis answers (CROSSSLOT among them).
type keyRecorder struct {
	mu   sync.Mutex
	keys []string
	errs []error
}

func (r *keyRecorder) record(cmd redis.Cmder) {
	args := cmd.Args()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) && !strings.HasPrefix(err.Error(), "NOSCRIPT") {
		r.errs = append(r.errs, fmt.Errorf("%v: %w", args, err))
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		for _, k := range args[3 : 3+n] {
			r.keys = append(r.keys, fmt.Sprint(k))
		}
	case "hgetall", "hmget", "hset", "zrem", "zadd", "zcard", "pexpire", "del", "get", "set":
		r.keys = append(r.keys, fmt.Sprint(args[1]))
	}
}

func (r *keyRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *keyRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.record(cmd)
		return err
	}
}
func (r *keyRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			r.record(cmd)
		}
		return err
	}
}

// testKeysOfOneStateInOneSlot: every key a state's operations write or
// read, its scripts' KEYS among them, hashes to one slot, whatever the
// prefix and the state's name (braces included), so that no script fails
// with CROSSSLOT. Each state is driven alone by a Store of its own,
// through every operation the Store makes on it, Close included.
func testKeysOfOneStateInOneSlot(t *testing.T, rc *redisCluster) {
	admin := rc.client(t, true)
	ctx := context.Background()
	n := 0
	for _, prefix := range []string{redisstore.DefaultPrefix, "app{tenant}:", "a{", "x}y:"} {
		for _, name := range []string{"host", "a}b", "{x}", "", "GetUser"} {
			for _, kind := range []string{"bucket", "breaker"} {
				n++
				unique := fmt.Sprintf("keys%d:", n) // no braces of its own
				t.Run(fmt.Sprintf("%s/%q/%q", kind, prefix, name), func(t *testing.T) {
					c := rc.client(t, true)
					var rec keyRecorder
					c.AddHook(&rec)
					s := redisstore.New(c, redisstore.WithPrefix(prefix+unique), redisstore.WithTimeout(time.Second),
						redisstore.WithLogger(slog.New(slog.DiscardHandler)))
					if kind == "bucket" {
						bs, err := s.Bucket(name, runtime.RateLimitConfig{MaxRequestsPerMinute: 6000, BurstSize: 3})
						if err != nil {
							t.Fatal(err)
						}
						for range 5 { // leases, then the shared bucket's answer when empty
							bs.Reserve(time.Now(), 0)
						}
						r, ok := bs.Reserve(time.Now(), time.Second) // a reservation with a wait
						if ok {
							bs.Cancel(r)
						}
						bs.Pause(time.Now().Add(10 * time.Millisecond))
					} else {
						br, err := s.Breaker(name, runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: 10 * time.Millisecond, SuccessThreshold: 2})
						if err != nil {
							t.Fatal(err)
						}
						p, _ := br.Allow(sys)
						br.Failure(p, callWeight, sys)
						s.Flush()
						time.Sleep(15 * time.Millisecond)
						if p, err := br.Allow(sys); err == nil { // a probe
							br.Success(p, sys)
						}
						if p, err := br.Allow(sys); err == nil {
							br.Release(p)
						}
						if p, err := br.Allow(sys); err == nil {
							br.Failure(p, callWeight, sys)
						}
					}
					time.Sleep(150 * time.Millisecond) // the background goroutine's round: heartbeat, leases
					down := s.Down()
					s.Close()
					rec.mu.Lock()
					defer rec.mu.Unlock()
					if down {
						t.Fatalf("the Store fell back to local state: %v", rec.errs)
					}
					for _, err := range rec.errs {
						t.Errorf("Redis answered an error: %v", err)
					}
					if len(rec.keys) == 0 {
						t.Fatal("no key recorded")
					}
					want := slot(rec.keys[0])
					seen := map[string]bool{}
					for _, k := range rec.keys {
						if seen[k] {
							continue
						}
						seen[k] = true
						got, err := admin.ClusterKeySlot(ctx, k).Result()
						if err != nil {
							t.Fatal(err)
						}
						if int(got) != slot(k) {
							t.Fatalf("CLUSTER KEYSLOT %q = %d, the test's CRC16 says %d", k, got, slot(k))
						}
						if int(got) != want {
							t.Errorf("key %q in slot %d, key %q of the same state in slot %d", k, got, rec.keys[0], want)
						}
					}
					if len(seen) < 2 && kind == "bucket" {
						t.Errorf("keys %v: want the bucket and its members", seen)
					}
				})
			}
		}
	}
}
