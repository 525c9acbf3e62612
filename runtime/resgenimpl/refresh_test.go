package resgenimpl_test

import (
	"context"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// These tests drive a Method by hand, stage by stage, as generated code
// does, against an inner value whose credentials expire.

type unauthorized struct{}

func (unauthorized) Error() string   { return "401 Unauthorized" }
func (unauthorized) StatusCode() int { return 401 }

// expiring's token expires whenever the test says; RefreshCredentials
// renews it.
type expiring struct {
	fresh     bool
	refreshes int
}

func (i *expiring) RefreshCredentials(context.Context) error {
	i.fresh = true
	i.refreshes++
	return nil
}

func (i *expiring) get() error {
	if !i.fresh {
		return unauthorized{}
	}
	return nil
}

func expiringManager(t *testing.T, in *expiring) *resgenimpl.Method {
	t.Helper()
	spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get"}}}
	m, err := resgenimpl.NewManager(in, spec, runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return m.Method(0)
}

// TestRefreshWorksMoreThanMaxRecoveryAttemptsTimes: max_recovery_attempts
// bounds the recoveries of one outage, not of the wrapper's life (the
// budget once never came back, and the fourth expiry failed for good).
func TestRefreshWorksMoreThanMaxRecoveryAttemptsTimes(t *testing.T) {
	in := &expiring{}
	me := expiringManager(t, in)
	ctx := context.Background()
	for call := 1; call <= 5; call++ {
		in.fresh = false // the token expired since the last call
		var c resgenimpl.Call
		var err error
		for {
			if err = me.Admit(ctx, &c); err != nil {
				break
			}
			if err = in.get(); err == nil {
				me.Success(&c)
				break
			}
			if err = me.Failure(ctx, &c, err); err != nil {
				break
			}
			if err = me.Backoff(ctx, &c); err != nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("call %d: %v (refreshes so far: %d)", call, err, in.refreshes)
		}
	}
}

// TestConcurrentAuthFailuresShareOneRefresh: two attempts sent with the
// same stale token both fail; the second started before the first's
// refresh, so it uses that refresh instead of running another.
func TestConcurrentAuthFailuresShareOneRefresh(t *testing.T) {
	in := &expiring{}
	me := expiringManager(t, in)
	ctx := context.Background()
	var c1, c2 resgenimpl.Call
	if err := me.Admit(ctx, &c1); err != nil {
		t.Fatal(err)
	}
	if err := me.Admit(ctx, &c2); err != nil {
		t.Fatal(err)
	}
	if err := me.Failure(ctx, &c1, unauthorized{}); err != nil {
		t.Fatal(err)
	}
	if err := me.Failure(ctx, &c2, unauthorized{}); err != nil {
		t.Fatal(err)
	}
	if in.refreshes != 1 {
		t.Fatalf("%d refreshes for one expired token, want 1", in.refreshes)
	}
}
