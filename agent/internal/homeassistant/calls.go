package homeassistant

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Service calls go over the WebSocket that Watch holds open when there is
// one: a call_service command on a live connection costs a frame each way,
// where a REST request costs a connection from the pool, HTTP framing and
// Home Assistant's request handling. Home Assistant's answer to
// call_service holds no states; the states a call changed arrive as the
// state_changed events of Watch's subscription before its result, and are
// collected as REST's answer would list them.

// errConnectionLost is a call's outcome when the connection closed after it
// went out and before Home Assistant answered: it may or may not have run,
// so it is not sent again.
var errConnectionLost = fmt.Errorf("%w: websocket closed before the call's result", ErrUnavailable)

// call is a service call waiting for its result.
type call struct {
	done    chan struct{}
	result  message
	err     error
	changed []State // the latest state of each entity, in the order they changed
}

func (c *call) note(st State) {
	for i := range c.changed {
		if c.changed[i].EntityID == st.EntityID {
			c.changed[i] = st
			return
		}
	}
	c.changed = append(c.changed, st)
}

// serve makes s carry service calls; it must be the session Watch reads.
func (s *session) serve() {
	s.callMu.Lock()
	s.calls = map[int64]*call{}
	s.callMu.Unlock()
}

// settle hands a result to the call waiting for it.
func (s *session) settle(m message) {
	s.callMu.Lock()
	c := s.calls[m.ID]
	delete(s.calls, m.ID)
	s.callMu.Unlock()
	if c != nil {
		c.result = m
		close(c.done)
	}
}

// changed tells the calls waiting that st changed meanwhile.
func (s *session) changed(st State) {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	for _, c := range s.calls {
		c.note(st)
	}
}

// lose fails the calls waiting and refuses new ones.
func (s *session) lose() {
	s.callMu.Lock()
	defer s.callMu.Unlock()
	s.lost = errConnectionLost
	for id, c := range s.calls {
		c.err = errConnectionLost
		close(c.done)
		delete(s.calls, id)
	}
}

func (s *session) forget(id int64) {
	s.callMu.Lock()
	delete(s.calls, id)
	s.callMu.Unlock()
}

// callService runs domain.service on s and waits for its result within ctx.
// sent is false when the call did not go out, and may go another way.
func (s *session) callService(ctx context.Context, domain, service string, data map[string]any) (changed []State, sent bool, err error) {
	c := &call{done: make(chan struct{})}
	id, err := s.sendAs(ctx, "call_service", map[string]any{"domain": domain, "service": service, "service_data": data},
		func(id int64) error {
			s.callMu.Lock()
			defer s.callMu.Unlock()
			if s.lost != nil || s.calls == nil {
				return errConnectionLost
			}
			s.calls[id] = c
			return nil
		})
	if err != nil {
		s.forget(id)
		if ctx.Err() != nil {
			return nil, true, ctx.Err() // the connection was closed under the write
		}
		return nil, false, err
	}
	if err := s.await(ctx, c); err != nil {
		s.forget(id)
		return nil, true, err
	}
	switch m := c.result; {
	case c.err != nil:
		return nil, true, c.err
	case m.Success == nil || !*m.Success:
		if m.Error == nil {
			return nil, true, errors.New("home assistant: call_service failed without an error")
		}
		return nil, true, fmt.Errorf("call_service: %w", m.Error)
	}
	if c.changed == nil {
		c.changed = []State{}
	}
	return c.changed, true, nil
}

// probeAfter is how long a call waits on a silent connection before it
// asks whether the connection is alive; a connection silent for abortAfter
// in all, the ping unanswered, is closed. A connection that died without
// closing (a proxy in between, a frozen host) then fails the call in
// seconds, where Watch's heartbeat would take a minute, while a Home
// Assistant whose event loop stalls for a few seconds (a small host busy
// with its recorder) keeps its connection and the subscription with it.
var (
	probeAfter = 2 * time.Second
	abortAfter = 10 * time.Second
)

// await waits for c's result, probing a silent connection.
func (s *session) await(ctx context.Context, c *call) error {
	t := time.NewTimer(probeAfter)
	defer t.Stop()
	pinged := false
	for {
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		switch quiet := s.quietFor(); {
		case quiet < probeAfter:
			pinged = false // Home Assistant talks; the call is slow
		case !pinged:
			pinged = true
			pctx, cancel := context.WithTimeout(ctx, probeAfter)
			_, _ = s.send(pctx, "ping", nil)
			cancel()
		case quiet >= abortAfter:
			s.abort() // Watch's read fails and the call fails as lost
		}
		t.Reset(probeAfter)
	}
}

// callLive calls over Watch's session when there is one; ok is false when
// the call did not go out over it.
func (c *Client) callLive(ctx context.Context, domain, service string, data map[string]any) (changed []State, ok bool, err error) {
	s := c.live.Load()
	if s == nil {
		return nil, false, nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	changed, sent, err := s.callService(ctx, domain, service, data)
	if !sent {
		c.log.Debug("websocket not available for a service call; using REST", "err", err)
		return nil, false, nil
	}
	var ce *CommandError
	if c.observe != nil && (err == nil || errors.As(err, &ce)) {
		c.observe(err) // Home Assistant answered
	}
	return changed, true, err
}
