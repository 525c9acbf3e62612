package resgenimpl_test

import (
	"context"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// This file holds a wrapper written by hand exactly as resgen generates
// method bodies, so that the runtime's tests and benchmarks drive the same
// control flow as generated code.

// Orders is the connector the hand-written wrapper wraps.
type Orders interface {
	Get(ctx context.Context, id string) (string, error)
}

// ResilientOrders is the hand-written wrapper.
type ResilientOrders struct {
	inner   Orders
	rm      *resgenimpl.Manager
	methods []*resgenimpl.Method
}

func NewResilientOrders(inner Orders, cfg runtime.Config, opts ...runtime.Option) (*ResilientOrders, error) {
	rm, err := resgenimpl.NewManager(inner, &resgenimpl.Spec{
		Wrapper:   "ResilientOrders",
		Interface: "runtime_test.Orders",
		Methods:   []resgenimpl.MethodSpec{{Name: "Get", Config: cfg, Request: true}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &ResilientOrders{inner: inner, rm: rm, methods: []*resgenimpl.Method{rm.Method(0)}}, nil
}

func (w *ResilientOrders) Resilience() *resgenimpl.Manager { return w.rm }

func (w *ResilientOrders) Get(ctx context.Context, id string) (string, error) {
	m := w.methods[0]
	var (
		r0   string
		err  error
		call resgenimpl.Call
	)
	defer m.End(&call)
	for {
		if err = m.Admit(ctx, &call); err != nil {
			return r0, err
		}
		actx, cancel := m.AttemptContext(ctx, &call)
		r0, err = w.inner.Get(actx, id)
		cancel()
		if err == nil {
			m.Success(&call)
			return r0, nil
		}
		if err = m.Failure(ctx, &call, err); err != nil {
			return r0, err
		}
		if err = m.Backoff(ctx, &call); err != nil {
			return r0, err
		}
	}
}
