package uplink

import (
	"context"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// Run connects and stays connected until ctx ends, reconnecting with
// exponential backoff and full jitter. When ctx ends it lets running
// commands finish (up to ShutdownTimeout), publishes presence offline and
// disconnects cleanly, then returns nil. It returns an error only when the
// identity or options make connecting impossible. Run is called once.
func (u *Uplink) Run(ctx context.Context) error {
	if err := u.id.Validate(); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	if u.opts.MQTTURL == "" {
		return errors.New("uplink: no MQTT URL")
	}
	// Commands outlive a connection: a result lost with its connection is
	// re-sent when the broker redelivers the command. They end only at
	// shutdown, after ShutdownTimeout.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	failures := 0
	for {
		if ctx.Err() != nil {
			u.shutdown(ctx, nil, cancelHandlers)
			return nil
		}
		c, err := u.dial(ctx, func(c *conn, m mqtt.Message) { u.onMessage(handlerCtx, c, m) })
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			u.metrics.connects.With("error").Inc()
			failures++
			d := u.backoff(failures)
			u.log.Warn("mqtt connect failed", "url", u.opts.MQTTURL, "error", err, "attempt", failures, "retry_in", d.Round(time.Millisecond))
			sleep(ctx, d)
			continue
		}

		u.metrics.connects.With("ok").Inc()
		u.log.Info("mqtt connected", "url", u.opts.MQTTURL, "after_failures", failures)
		start := time.Now()
		u.setConn(c)
		connCtx, cancelConn := context.WithCancel(ctx)
		if u.track() {
			go func() {
				defer u.running.Done()
				u.h.OnConnect(connCtx)
			}()
		}

		select {
		case <-ctx.Done():
			cancelConn()
			u.shutdown(ctx, c, cancelHandlers)
			return nil
		case <-c.lost:
		}
		cancelConn()
		u.setConn(nil)
		c.client.Disconnect(0)
		lived := time.Since(start)
		if lived >= u.opts.StableAfter {
			failures = 0
		}
		failures++
		d := u.backoff(failures)
		u.log.Warn("mqtt connection lost", "error", c.lostErr, "lived", lived.Round(time.Second), "retry_in", d.Round(time.Millisecond))
		sleep(ctx, d)
	}
}

// backoff returns the delay before attempt n (1-based): uniformly random in
// [0, min(MaxBackoff, MinBackoff·2^(n-1))], "full jitter".
func (u *Uplink) backoff(n int) time.Duration {
	ceil := u.opts.MinBackoff
	for i := 1; i < n && ceil < u.opts.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, u.opts.MaxBackoff)
	return min(max(u.opts.Jitter(ceil), 0), ceil)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// shutdown waits for running handlers (bounded), then, if connected,
// publishes presence offline and disconnects.
func (u *Uplink) shutdown(ctx context.Context, c *conn, cancelHandlers context.CancelFunc) {
	u.mu.Lock()
	u.closing = true
	u.mu.Unlock()
	done := make(chan struct{})
	go func() {
		u.running.Wait()
		close(done)
	}()
	t := time.NewTimer(u.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		u.log.Warn("commands still running at shutdown; cancelling them")
		cancelHandlers()
		<-done
	}
	if c == nil {
		return
	}
	u.setConn(nil)
	// ctx has ended; the goodbye gets its own short deadline.
	bye, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(u.opts.PublishTimeout, 5*time.Second))
	defer cancel()
	if err := c.close(bye, u.presenceTopic, u.presence(false)); err != nil {
		u.log.Warn("presence offline not published; the broker's Will will say it", "error", err)
		return
	}
	u.log.Info("mqtt disconnected")
}

// onMessage handles one incoming publish. A command is acknowledged once its
// result is published; anything that cannot be a command is dropped
// (acknowledged, so the broker does not redeliver it).
func (u *Uplink) onMessage(ctx context.Context, c *conn, m mqtt.Message) {
	if !u.track() {
		return // shutting down: left unacknowledged, redelivered next session
	}
	defer u.running.Done()

	if m.Topic() != u.cmdTopic {
		u.drop(m, "topic", "unexpected topic "+m.Topic())
		return
	}
	cmd, err := decodeCommand(m.Payload(), u.opts.MaxPayload)
	if err != nil {
		u.drop(m, "payload", err.Error())
		return
	}
	select {
	case u.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-u.sem }()

	u.metrics.commands.Inc()
	res := u.h.HandleCommand(ctx, cmd)
	if res != nil {
		// On the connection the command came on: it may not be the current
		// one yet (commands queued in the session arrive during dial), and
		// the acknowledgement can only go there anyway.
		if err := u.publishOn(ctx, c, topic.Result, res); err != nil {
			if !u.spoolResult(ctx, res) {
				u.log.Warn("result not published; the command will be redelivered",
					"command_id", cmd.GetId(), "request_id", cmd.GetRequestId(), "error", err)
				return
			}
			u.log.Info("result kept for delivery after reconnect",
				"command_id", cmd.GetId(), "request_id", cmd.GetRequestId(), "error", err)
		}
	}
	m.Ack()
}

// spoolResult hands a result that could not be published to the spool (the
// outbox), which delivers it after the reconnect; false when there is none
// or it refused.
func (u *Uplink) spoolResult(ctx context.Context, res *homeplanev1.Result) bool {
	u.mu.Lock()
	s := u.spool
	u.mu.Unlock()
	if s == nil {
		return false
	}
	if err := s.Publish(context.WithoutCancel(ctx), topic.Result, res); err != nil {
		u.log.Warn("result not kept for later", "command_id", res.GetCommandId(), "error", err)
		return false
	}
	u.metrics.spooledResults.Inc()
	return true
}

func (u *Uplink) drop(m mqtt.Message, reason, detail string) {
	u.metrics.dropped.With(reason).Inc()
	u.log.Warn("incoming message dropped", "topic", m.Topic(), "bytes", len(m.Payload()), "reason", detail)
	m.Ack()
}

// decodeCommand decodes an incoming command payload of at most max bytes.
func decodeCommand(b []byte, max int) (*homeplanev1.Command, error) {
	if len(b) > max {
		return nil, fmt.Errorf("command of %d bytes exceeds %d", len(b), max)
	}
	cmd := &homeplanev1.Command{}
	if err := proto.Unmarshal(b, cmd); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	return cmd, nil
}
