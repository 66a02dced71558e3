package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/idempotency"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Kill is how replica-kill ends one replica mid-load.
type Kill struct {
	// After is when, into the hold, the replica is killed.
	After time.Duration
	// Replica indexes Config.Replicas: the one killed.
	Replica int
	// Do kills it (SIGKILL: no goodbye to anyone).
	Do func() error
}

// ReplicaKill is what killing a replica under load did: every request was
// sent with an idempotency key to a replica, round robin, and sent again
// with the same key to the next one when its replica did not answer.
type ReplicaKill struct {
	Replicas          int     `json:"replicas"`
	KilledAfterSecond float64 `json:"killed_after_seconds"`
	Requests          int64   `json:"requests"`
	OK                int64   `json:"answered_ok"`
	Failed            int64   `json:"not_answered_ok"`
	Retried           int64   `json:"retried"`
	RetriedOK         int64   `json:"retried_ok"`
	// RunsOfOK and RunsOfRetried count requests by how often their command
	// ran in the home ("0", "1", "2+").
	RunsOfOK      map[string]int64 `json:"runs_of_ok"`
	RunsOfRetried map[string]int64 `json:"runs_of_retried"`
	// Before, During and After are the latencies of the requests sent
	// first to the surviving replica and answered by it without a retry:
	// before the kill, in the Window after it, and after that.
	Window      float64 `json:"window_seconds"`
	Before      Summary `json:"survivor_before"`
	During      Summary `json:"survivor_during"`
	After       Summary `json:"survivor_after"`
	RetriedTime Summary `json:"retried_latency"`
	// Latency is every request's, retries included.
	Latency Summary          `json:"latency"`
	Errors  map[string]int64 `json:"errors"`
}

// keyedResult is one keyed request's fate.
type keyedResult struct {
	commandID string
	first     int // replica first sent to
	due       time.Time
	took      time.Duration
	attempts  int
	ok        bool
	code      string
}

// KeyedDevices send Process open loop, like Devices, with an idempotency
// key per request, to the replicas round robin. A request whose replica is
// unreachable is sent with the same key to the next replica; one that
// timed out or found its key's first run still claimed (by a replica that
// died mid-call, until the claim expires) is sent to the same replica
// again; four attempts in all.
type KeyedDevices struct {
	apis      []*API
	devices   []Device
	sentences []Sentence
	timeout   time.Duration

	mu      sync.Mutex
	results []keyedResult
	sent    atomic.Int64
	done    atomic.Int64
	ok      atomic.Int64
}

// NewKeyedDevices prepares the devices on the replicas' APIs; timeout
// bounds one attempt.
func NewKeyedDevices(apis []*API, devices []Device, sentences []Sentence, timeout time.Duration) (*KeyedDevices, error) {
	for _, d := range devices {
		if d.ID == "" {
			return nil, errors.New("replica-kill needs the devices' ids: provision with a new --state")
		}
	}
	return &KeyedDevices{apis: apis, devices: devices, sentences: sentences, timeout: timeout}, nil
}

// Run sends rate requests per second until ctx ends, then waits for those
// in flight. Follow-ups are sent as sentences of their own.
func (d *KeyedDevices) Run(ctx context.Context, rate float64) {
	if len(d.devices) == 0 || rate <= 0 {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	openLoop(ctx, rate, func(i int, due time.Time) {
		dev := d.devices[i%len(d.devices)]
		s := d.sentences[(i/len(d.devices))%len(d.sentences)]
		first := i % len(d.apis)
		d.sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := d.one(ctx, due, dev, s.Text, first)
			d.mu.Lock()
			d.results = append(d.results, r)
			d.mu.Unlock()
		}()
	})
}

func (d *KeyedDevices) one(ctx context.Context, due time.Time, dev Device, text string, first int) keyedResult {
	key := rand.Text()
	r := keyedResult{commandID: idempotency.CommandID(idempotency.DeviceScope(dev.ID), key), first: first, due: due}
	req := &homeplanev1.ProcessRequest{Text: text, IdempotencyKey: key}
	replica := first
	for r.attempts < 4 {
		api := d.apis[replica%len(d.apis)]
		r.attempts++
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
		resp, err := api.intent.Process(actx, bearer(dev.Token, req))
		cancel()
		switch code := connect.CodeOf(err); {
		case err == nil && resp.Msg.GetSuccess():
			r.ok, r.code = true, ""
		case err == nil:
			r.code = "answer_" + resp.Msg.GetErrorCode()
		case code == connect.CodeUnavailable || code == connect.CodeUnknown:
			// The replica is gone: the next one gets the same key.
			r.code = "rpc_" + code.String()
			replica++
			continue
		case code == connect.CodeAborted || code == connect.CodeDeadlineExceeded:
			// The key's first run is still claimed: the same replica
			// answers once it is done or the claim expired.
			r.code = "rpc_" + code.String()
			continue
		default:
			r.code = "rpc_" + code.String()
		}
		break
	}
	r.took = time.Since(due)
	d.done.Add(1)
	if r.ok {
		d.ok.Add(1)
	}
	return r
}

// replicaKillReport sums the results: runs counts how often each command
// id ran in the homes.
func replicaKillReport(results []keyedResult, runs map[string]int, replicas int, kill *Kill, killedAt time.Time, window time.Duration) *ReplicaKill {
	rk := &ReplicaKill{Replicas: replicas, KilledAfterSecond: kill.After.Seconds(), Window: window.Seconds(),
		RunsOfOK: map[string]int64{}, RunsOfRetried: map[string]int64{}, Errors: map[string]int64{}}
	before, during, after, retried, all := newLatency(), newLatency(), newLatency(), newLatency(), newLatency()
	bucket := func(n int) string {
		if n >= 2 {
			return "2+"
		}
		return strconv.Itoa(n)
	}
	for _, r := range results {
		rk.Requests++
		all.record(r.took)
		n := runs[r.commandID]
		if r.ok {
			rk.OK++
			rk.RunsOfOK[bucket(n)]++
		} else {
			rk.Failed++
			rk.Errors[r.code]++
		}
		if r.attempts > 1 {
			rk.Retried++
			rk.RunsOfRetried[bucket(n)]++
			retried.record(r.took)
			if r.ok {
				rk.RetriedOK++
			}
			continue
		}
		if r.first == kill.Replica || !r.ok {
			continue
		}
		switch {
		case r.due.Before(killedAt):
			before.record(r.took)
		case r.due.Before(killedAt.Add(window)):
			during.record(r.took)
		default:
			after.record(r.took)
		}
	}
	rk.Before, rk.During, rk.After, rk.RetriedTime = before.summary(), during.summary(), after.summary(), retried.summary()
	rk.Latency = all.summary()
	return rk
}

// Results returns the finished requests so far, by due time.
func (d *KeyedDevices) resultsByDue() []keyedResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.results)
	sort.Slice(out, func(i, j int) bool { return out[i].due.Before(out[j].due) })
	return out
}

// mergeRuns adds the run counts of b to a.
func mergeRuns(a, b map[string]int) map[string]int {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]int{}
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// String is a one-line account, for logs.
func (rk *ReplicaKill) String() string {
	return fmt.Sprintf("%d requests, %d ok, %d retried (%d ok); runs of ok %v, of retried %v; survivor p99 %.1f / %.1f / %.1f ms before/during/after",
		rk.Requests, rk.OK, rk.Retried, rk.RetriedOK, rk.RunsOfOK, rk.RunsOfRetried, rk.Before.P99, rk.During.P99, rk.After.P99)
}
