package loadgen

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

//go:embed testdata/sentences.txt
var defaultSentences []byte

// Sentence is one thing a device says; a follow-up continues the
// conversation of the sentence before it.
type Sentence struct {
	Text     string
	FollowUp bool
}

// DefaultSentences are the built-in sentences, which fit the simulated home.
func DefaultSentences() []Sentence {
	s, err := ReadSentences(bytes.NewReader(defaultSentences))
	if err != nil {
		panic(err)
	}
	return s
}

// ReadSentences reads a sentence file: one sentence a line, "> " before a
// follow-up, "#" comments and blank lines skipped.
func ReadSentences(r io.Reader) ([]Sentence, error) {
	var out []Sentence
	sc := bufio.NewScanner(io.LimitReader(r, 4<<20))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := Sentence{Text: line}
		if rest, ok := strings.CutPrefix(line, ">"); ok {
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: a follow-up needs a sentence before it", n)
			}
			s = Sentence{Text: strings.TrimSpace(rest), FollowUp: true}
		}
		if s.Text == "" || len(s.Text) > 1000 {
			return nil, fmt.Errorf("line %d: a sentence has 1 to 1000 characters", n)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no sentences")
	}
	return out, nil
}

// Devices send Process open-loop: request i is due at start + i/rate,
// whatever happened to the others, and its latency counts from then, so a
// stall shows in full rather than slowing the load down. Requests go to the
// devices round robin; each device walks the sentences from its own place,
// a follow-up waiting for the answer to the sentence before it.
type Devices struct {
	api       *API
	devices   []Device
	sentences []Sentence
	timeout   time.Duration

	sent     atomic.Int64
	done     atomic.Int64
	ok       atomic.Int64
	inflight atomic.Int64
	Latency  *latency
	Errors   counts
}

// NewDevices prepares the devices; timeout bounds one request.
func NewDevices(api *API, devices []Device, sentences []Sentence, timeout time.Duration) *Devices {
	return &Devices{api: api, devices: devices, sentences: sentences, timeout: timeout, Latency: newLatency()}
}

// deviceTurn is the state of one device between its requests: the answer
// the next follow-up waits for.
type deviceTurn struct {
	next int         // index into sentences
	prev chan string // conversation id of the previous request, once answered
}

// Run sends at rate requests per second until ctx ends, then waits for the
// requests in flight.
func (d *Devices) Run(ctx context.Context, rate float64) {
	if len(d.devices) == 0 || rate <= 0 {
		return
	}
	turns := make([]deviceTurn, len(d.devices))
	starts := groupStarts(d.sentences)
	for i := range turns {
		turns[i].next = starts[i%len(starts)]
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	openLoop(ctx, rate, func(i int, due time.Time) {
		t := &turns[i%len(turns)]
		dev := d.devices[i%len(d.devices)]
		s := d.sentences[t.next]
		t.next = (t.next + 1) % len(d.sentences)
		prev := t.prev
		if !s.FollowUp {
			prev = nil
		}
		answered := make(chan string, 1)
		t.prev = answered
		wg.Add(1)
		d.sent.Add(1)
		go func() {
			defer wg.Done()
			d.one(ctx, due, dev, s, prev, answered)
		}()
	})
}

// openLoop calls send for request i at start + i/rate, whatever happened
// to the ones before, until ctx ends.
func openLoop(ctx context.Context, rate float64, send func(i int, due time.Time)) {
	interval := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	for i := 0; ; i++ {
		due := begin.Add(time.Duration(i) * interval)
		if !sleepUntil(ctx, due) {
			return
		}
		send(i, due)
	}
}

// groupStarts are the sentences that are not follow-ups, where a device may
// begin.
func groupStarts(ss []Sentence) []int {
	var out []int
	for i, s := range ss {
		if !s.FollowUp {
			out = append(out, i)
		}
	}
	return out
}

func (d *Devices) one(ctx context.Context, due time.Time, dev Device, s Sentence, prev <-chan string, answered chan<- string) {
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	conv := ""
	defer func() { answered <- conv }()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	defer cancel()
	req := &homeplanev1.ProcessRequest{Text: s.Text}
	if prev != nil {
		select {
		case req.ConversationId = <-prev:
		case <-rctx.Done():
		}
	}
	resp, err := d.api.intent.Process(rctx, bearer(dev.Token, req))
	d.Latency.record(time.Since(due))
	d.done.Add(1)
	switch {
	case err != nil:
		d.Errors.add("rpc_" + connect.CodeOf(err).String())
	case !resp.Msg.GetSuccess():
		code := resp.Msg.GetErrorCode()
		if code == "" {
			code = "unsuccessful"
		}
		d.Errors.add("answer_" + code)
	default:
		d.ok.Add(1)
		conv = resp.Msg.GetConversationId()
	}
}
