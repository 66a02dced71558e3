package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestInstanceRunsOncePerCommand(t *testing.T) {
	var r instanceRuns
	var ran atomic.Int32
	release := make(chan struct{})
	run := func() *homeplanev1.Result {
		ran.Add(1)
		<-release
		return &homeplanev1.Result{CommandId: "c1", Ok: true}
	}
	var wg sync.WaitGroup
	results := make([]*homeplanev1.Result, 3)
	for i := range results {
		wg.Go(func() { results[i] = r.do(context.Background(), "c1", run) })
	}
	close(release)
	wg.Wait()
	if n := ran.Load(); n != 1 {
		t.Fatalf("ran %d times, want once", n)
	}
	for i, res := range results {
		if !res.GetOk() || res.GetCommandId() != "c1" {
			t.Fatalf("delivery %d got %v", i, res)
		}
	}

	// The memory is bounded: the oldest id is forgotten and runs again.
	always := func() *homeplanev1.Result { ran.Add(1); return &homeplanev1.Result{Ok: true} }
	for i := range maxInstanceRuns {
		r.do(context.Background(), fmt.Sprint("other-", i), always)
	}
	before := ran.Load()
	r.do(context.Background(), "c1", always)
	if ran.Load() != before+1 {
		t.Fatal("an id past the bound was still remembered")
	}
	if len(r.runs) > maxInstanceRuns {
		t.Fatalf("%d runs remembered, bound %d", len(r.runs), maxInstanceRuns)
	}
}
