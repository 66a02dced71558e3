package main

import (
	"context"
	"sync"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// maxInstanceRuns bounds the instance commands remembered; they are rare
// and a redelivery follows its command closely.
const maxInstanceRuns = 64

// instanceRuns runs each instance command id once: a command delivered again
// (its acknowledgement was lost with the connection) waits for, or is
// answered with, the first run's result instead of upgrading twice.
type instanceRuns struct {
	mu    sync.Mutex
	runs  map[string]*instanceRun
	order []string // oldest first
}

type instanceRun struct {
	done chan struct{}
	res  *homeplanev1.Result
}

func (r *instanceRuns) do(ctx context.Context, id string, run func() *homeplanev1.Result) *homeplanev1.Result {
	if id == "" {
		return run()
	}
	r.mu.Lock()
	if r.runs == nil {
		r.runs = make(map[string]*instanceRun)
	}
	if prev, ok := r.runs[id]; ok {
		r.mu.Unlock()
		select {
		case <-prev.done:
			return proto.CloneOf(prev.res)
		case <-ctx.Done():
			return nil
		}
	}
	cur := &instanceRun{done: make(chan struct{})}
	r.runs[id] = cur
	r.order = append(r.order, id)
	if len(r.order) > maxInstanceRuns {
		delete(r.runs, r.order[0])
		r.order = r.order[1:]
	}
	r.mu.Unlock()
	cur.res = run()
	close(cur.done)
	return cur.res
}
