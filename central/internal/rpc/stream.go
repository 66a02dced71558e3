package rpc

import (
	"context"
	"errors"
	"sync"

	"github.com/homeplane/homeplane/central/internal/auth"
)

// errStreamEnded ends a stream whose caller's credentials ended.
var errStreamEnded = errors.New("the session or device token of this stream ended")

// streams are the open streams of this replica with their callers, so that
// ending a credential (a revoked device, a deleted home, a disabled user, a
// password or role change, a logout) closes its streams at once, not when
// the caller next reconnects.
type streams struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]openStream
}

type openStream struct {
	caller Caller
	homeID string
	cancel context.CancelCauseFunc
}

func newStreams() *streams { return &streams{open: make(map[uint64]openStream)} }

// add registers a stream of caller about homeID and returns the context it
// runs in, ended with errStreamEnded when the caller's credential ends, and
// the function that unregisters it.
func (s *streams) add(ctx context.Context, c Caller, homeID string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.open[id] = openStream{caller: c, homeID: homeID, cancel: cancel}
	return ctx, func() {
		s.mu.Lock()
		delete(s.open, id)
		s.mu.Unlock()
		cancel(nil)
	}
}

// end closes every open stream for which match holds.
func (s *streams) end(match func(openStream) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.open {
		if match(o) {
			o.cancel(errStreamEnded)
			delete(s.open, id)
		}
	}
}

// sessionsEnded closes the streams of the sessions e names.
func (s *streams) sessionsEnded(e auth.SessionEnd) {
	s.end(func(o openStream) bool {
		c := o.caller
		if c.IsDevice() {
			return false
		}
		if e.SessionID != "" {
			return c.SessionID == e.SessionID
		}
		return c.UserID == e.UserID
	})
}

func (s *streams) deviceRevoked(deviceID string) {
	s.end(func(o openStream) bool { return o.caller.DeviceID == deviceID })
}

func (s *streams) homeDeleted(homeID string) {
	s.end(func(o openStream) bool { return o.homeID == homeID })
}
