package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// ensureImage pulls ref unless it is present; a present image never needs
// the network.
func (s *Supervisor) ensureImage(ctx context.Context, ref string) error {
	if _, err := s.d.ImageInspect(ctx, ref); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("supervisor: inspect image %s: %w", ref, err)
	}
	return s.pull(ctx, ref)
}

// pullMessage is the part of the pull stream's JSON messages used here.
type pullMessage struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// pull pulls ref, reporting progress at most once a second, and fails when
// nothing arrives for PullStallTimeout. The stall timer runs from the
// request on: a registry that never answers the manifest stalls a pull as
// much as one that stops sending a layer.
func (s *Supervisor) pull(ctx context.Context, ref string) error {
	ctx, stop := context.WithTimeoutCause(ctx, s.opts.PullDeadline,
		fmt.Errorf("%w: not done within %v", ErrPullStalled, s.opts.PullDeadline))
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	progress := make(chan struct{}, 1)
	go s.watchStall(ctx, cancel, progress)
	body, err := s.d.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrPullStalled) {
			return s.stalled(ref, 0, 0)
		}
		return fmt.Errorf("supervisor: pull %s: %w", ref, err)
	}
	// Cancelling ctx also ends a read of body that is waiting.
	defer body.Close()
	return s.readPull(ctx, ref, body, progress)
}

// watchStall cancels ctx with ErrPullStalled when no progress is signalled
// for PullStallTimeout.
func (s *Supervisor) watchStall(ctx context.Context, cancel context.CancelCauseFunc, progress <-chan struct{}) {
	t := time.NewTimer(s.opts.PullStallTimeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-progress:
			t.Reset(s.opts.PullStallTimeout)
		case <-t.C:
			cancel(ErrPullStalled)
			return
		}
	}
}

// stalled is the error of a stalled pull, saying how far it got.
func (s *Supervisor) stalled(ref string, cur, tot int64) error {
	got := "nothing received"
	if tot > 0 {
		got = fmt.Sprintf("%s of %s received", sizeText(cur), sizeText(tot))
	}
	return fmt.Errorf("%w for %v while pulling %s (%s)", ErrPullStalled, s.opts.PullStallTimeout, ref, got)
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type layer struct{ current, total int64 }

// Bounds on what an engine's pull stream may make the agent hold: real
// messages are a few hundred bytes and images have tens of layers.
const (
	maxPullMessage = 64 << 10
	maxPullLayers  = 1000
)

// nextMessage reads one message of a pull stream (JSON, one a line).
func nextMessage(r *bufio.Reader, m *pullMessage) error {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("a progress message over %d bytes", maxPullMessage)
	}
	if len(bytes.TrimSpace(line)) == 0 {
		if err == nil {
			return nextMessage(r, m)
		}
		return err
	}
	if jerr := json.Unmarshal(line, m); jerr != nil {
		return jerr
	}
	return nil
}

func (s *Supervisor) readPull(ctx context.Context, ref string, body io.Reader, progress chan<- struct{}) error {
	br := bufio.NewReaderSize(body, maxPullMessage)
	layers := map[string]*layer{}
	var lastReport time.Time
	sum := func() (cur, tot int64) {
		for _, l := range layers {
			cur += l.current
			tot += l.total
		}
		return cur, tot
	}
	report := func(done bool) {
		cur, tot := sum()
		cur, tot = max(cur, 0), max(tot, 0)
		if tot > 0 {
			cur = min(cur, tot) // an engine's count past its total is not believed
		}
		p := &homeplanev1.PullProgress{Image: ref, CurrentBytes: uint64(cur), TotalBytes: uint64(tot), Done: done}
		if tot > 0 {
			p.Percent = float64(cur) / float64(tot) * 100
		}
		if done {
			p.Percent = 100
		}
		s.event(ctx, homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_PULL_PROGRESS, "", func(e *homeplanev1.InstanceEvent) { e.Image = ref; e.Pull = p })
	}
	for {
		var m pullMessage
		err := nextMessage(br, &m)
		if err != nil {
			if errors.Is(context.Cause(ctx), ErrPullStalled) && context.Cause(ctx) != ErrPullStalled {
				return fmt.Errorf("supervisor: pull %s: %w", ref, context.Cause(ctx))
			}
			if errors.Is(context.Cause(ctx), ErrPullStalled) {
				cur, tot := sum()
				return s.stalled(ref, cur, tot)
			}
			if errors.Is(err, io.EOF) {
				report(true)
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("supervisor: pull %s: %w", ref, context.Cause(ctx))
			}
			return fmt.Errorf("supervisor: pull %s: read progress: %w", ref, err)
		}
		select {
		case progress <- struct{}{}:
		default:
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return fmt.Errorf("supervisor: pull %s: %s", ref, msg)
		}
		if m.ID == "" {
			continue
		}
		l := layers[m.ID]
		if l == nil {
			if len(layers) >= maxPullLayers {
				return fmt.Errorf("supervisor: pull %s: more than %d layers", ref, maxPullLayers)
			}
			l = &layer{}
			layers[m.ID] = l
		}
		switch {
		case m.Status == "Downloading":
			l.current, l.total = m.ProgressDetail.Current, m.ProgressDetail.Total
		case m.Status == "Download complete" || m.Status == "Pull complete" || m.Status == "Already exists":
			if l.total > 0 {
				l.current = l.total
			}
		case strings.HasPrefix(m.Status, "Pulling from"):
			delete(layers, m.ID)
		}
		if time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			report(false)
		}
	}
}
