package uplink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// qos is used for everything: commands, results and presence must arrive.
const qos = 1

// conn is one MQTT connection. Once lost it is never reused; the loop dials
// a new one.
type conn struct {
	client   mqtt.Client
	lost     chan struct{} // closed when the connection is lost
	lostOnce sync.Once
	lostErr  error
}

func (c *conn) markLost(err error) {
	c.lostOnce.Do(func() {
		c.lostErr = err
		close(c.lost)
	})
}

// dial makes one connection attempt: connect with a persistent session and a
// retained offline Will, subscribe to the command topic, then announce the
// agent online. onMessage receives every incoming publish.
func (u *Uplink) dial(ctx context.Context, onMessage func(*conn, mqtt.Message)) (*conn, error) {
	c := &conn{lost: make(chan struct{})}
	o := mqtt.NewClientOptions().
		AddBroker(u.opts.MQTTURL).
		SetClientID(u.id.AgentID).
		SetUsername(u.id.MQTTUsername).
		SetPassword(u.id.MQTTPassword).
		// A persistent session keeps commands queued at the broker while
		// the agent is away, and redelivers unacknowledged ones.
		SetCleanSession(false).
		// The loop reconnects, with jitter; paho's own retry would not.
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(u.opts.ConnectTimeout).
		SetKeepAlive(u.opts.KeepAlive).
		SetPingTimeout(min(u.opts.KeepAlive, 10*time.Second)).
		SetWriteTimeout(u.opts.PublishTimeout).
		SetBinaryWill(u.presenceTopic, u.presence(false), qos, true).
		// Commands run concurrently, and a command is acknowledged only
		// once its result is published, so a crash in between means a
		// redelivery, which the command runner answers from its table of
		// recent commands or, after an agent restart, from its ledger.
		SetOrderMatters(false).
		SetAutoAckDisabled(true).
		// Queued commands can arrive before SUBSCRIBE is acknowledged.
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { onMessage(c, m) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.markLost(err) })
	if u.opts.TLSConfig != nil {
		o.SetTLSConfig(u.opts.TLSConfig)
	}
	c.client = mqtt.NewClient(o)

	tok := c.client.Connect()
	if err := wait(ctx, tok, nil, u.opts.ConnectTimeout+time.Second); err != nil {
		// The attempt may still succeed after we stop waiting; a session
		// left open would hold the agent's client id, so close it then.
		go func() {
			tok.WaitTimeout(u.opts.ConnectTimeout + time.Second)
			c.client.Disconnect(0)
		}()
		return nil, fmt.Errorf("connect to %s: %w", u.opts.MQTTURL, err)
	}
	sub := c.client.Subscribe(u.cmdTopic, qos, func(_ mqtt.Client, m mqtt.Message) { onMessage(c, m) })
	if err := wait(ctx, sub, c.lost, u.opts.PublishTimeout); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe to commands: %w", err)
	}
	if granted, ok := sub.(*mqtt.SubscribeToken).Result()[u.cmdTopic]; !ok || granted > 2 {
		c.client.Disconnect(0)
		return nil, errors.New("subscribe to commands: refused by the broker")
	}
	if err := c.publish(ctx, u.presenceTopic, true, u.presence(true)); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("announce presence: %w", err)
	}
	return c, nil
}

// publish sends payload at QoS 1 and waits for the broker's acknowledgement.
// Paho refuses a publish as soon as the connection drops, before the loss
// handler runs; that too means "keep it for later", not a failed message.
func (c *conn) publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	err := wait(ctx, c.client.Publish(topic, qos, retained, payload), c.lost, 0)
	if errors.Is(err, mqtt.ErrNotConnected) {
		return ErrDisconnected
	}
	return err
}

// close says goodbye: presence offline (a clean disconnect suppresses the
// Will), then DISCONNECT.
func (c *conn) close(ctx context.Context, topic string, offline []byte) error {
	err := c.publish(ctx, topic, true, offline)
	c.client.Disconnect(250)
	return err
}

// wait waits for tok, ctx, the connection's loss or the timeout, whichever
// comes first. With a persistent session paho keeps a lost connection's
// tokens open for a resume that never comes, so lost must be watched.
func wait(ctx context.Context, tok mqtt.Token, lost <-chan struct{}, timeout time.Duration) error {
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-tok.Done():
		return tok.Error()
	case <-lost:
		return ErrDisconnected
	case <-ctx.Done():
		return ctx.Err()
	case <-timer:
		return errors.New("timed out waiting for the broker")
	}
}

func nowpb() *timestamppb.Timestamp { return timestamppb.Now() }
