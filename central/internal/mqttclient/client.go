// Package mqttclient is central's side of an external MQTT broker: a paho
// client that publishes commands and receives what agents send, for central
// replicas sharing one broker (--mqtt-mode external).
//
// Each replica holds two connections. The first, "central-<replica>",
// carries commands, results and presence: every replica subscribes to every
// home's results and presence, so the replica that sent a command gets its
// result (the others ignore a command id they never sent) and every replica
// knows which homes are online. The second, "central-<replica>-ingest",
// holds the shared subscriptions ($share/homeplane-central/...) of entity
// syncs, telemetry and events, so each is ingested by one replica, and a
// backlog there never delays a result.
package mqttclient

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/homeplane/homeplane/protocol/topic"
)

// ShareGroup is the shared-subscription group of central's replicas.
const ShareGroup = "homeplane-central"

// ControlTopic is where central asks the broker to disconnect agents: the
// Homeplane Mosquitto plugin listens on it (deploy/mosquitto).
const ControlTopic = "$CONTROL/homeplane/v1/kick"

var replicaIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// ValidReplicaID reports whether id may name a replica: 1 to 32 of a-z, 0-9, -.
func ValidReplicaID(id string) bool { return replicaIDPattern.MatchString(id) }

// Options configures a Client.
type Options struct {
	// URL is the broker, tcp://host:port or tls://host:port.
	URL string
	// ReplicaID names this replica; the client ids derive from it.
	ReplicaID string
	// Username and Password are central's service credentials.
	Username, Password string
	// TLSConfig, when set, is used for tls:// URLs.
	TLSConfig *tls.Config
	// Timeout bounds connecting and each publish's acknowledgement.
	// Default 10s.
	Timeout time.Duration
	Logger  *slog.Logger // default discards
}

// Client is central's connection pair to an external broker. It implements
// the router's transport, ingest's subscriber and the home service's
// disconnector.
type Client struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	subs   []subscription
	main   paho.Client
	ingest paho.Client
}

type subscription struct {
	filter string // as the broker sees it, $share prefix included
	shared bool
	fn     func(topic string, payload []byte)
}

// New checks opts and returns a client that connects on Start.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "tls" && u.Scheme != "ssl") || u.Host == "" {
		return nil, fmt.Errorf("mqttclient: broker URL %q must be tcp://host:port or tls://host:port", opts.URL)
	}
	if !ValidReplicaID(opts.ReplicaID) {
		return nil, fmt.Errorf("mqttclient: replica id %q must be 1 to 32 of a-z, 0-9 and -", opts.ReplicaID)
	}
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("mqttclient: service username and password are required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, log: opts.Logger.With("broker", u.Host, "replica", opts.ReplicaID)}, nil
}

// Subscribe registers fn for filter; the subscriptions are made on Start and
// again after every reconnect. Entity syncs, telemetry and events are
// subscribed as shared subscriptions; results and presence on every replica.
func (c *Client) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.main != nil {
		return errors.New("mqttclient: subscribe before Start")
	}
	s := subscription{filter: filter, fn: fn, shared: shared(filter)}
	if s.shared {
		s.filter = "$share/" + ShareGroup + "/" + filter
	}
	c.subs = append(c.subs, s)
	return nil
}

// shared reports whether filter's messages are ingested by one replica.
func shared(filter string) bool {
	for _, k := range []topic.Kind{topic.Entities, topic.Telemetry, topic.Events} {
		if filter == topic.Filter(k) {
			return true
		}
	}
	return false
}

// Start connects both connections and subscribes; it fails when the broker
// refuses or does not answer within the timeout. Afterwards paho reconnects
// on its own and subscribes again.
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	main, ingest := c.newConn(false), c.newConn(true)
	c.main, c.ingest = main, ingest
	c.mu.Unlock()
	for _, cl := range []paho.Client{main, ingest} {
		if err := c.wait(ctx, cl.Connect()); err != nil {
			main.Disconnect(0)
			ingest.Disconnect(0)
			return fmt.Errorf("mqttclient: connect to %s: %w", c.opts.URL, err)
		}
	}
	c.log.Info("connected to the external broker")
	return nil
}

func (c *Client) newConn(ingest bool) paho.Client {
	id := "central-" + c.opts.ReplicaID
	if ingest {
		id += "-ingest"
	}
	o := paho.NewClientOptions().AddBroker(c.opts.URL).SetClientID(id).
		SetUsername(c.opts.Username).SetPassword(c.opts.Password).
		SetCleanSession(true).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(c.opts.Timeout).SetWriteTimeout(c.opts.Timeout).
		SetAutoReconnect(true).SetConnectRetry(false).SetMaxReconnectInterval(10 * time.Second).
		SetOrderMatters(true) // handlers run one at a time: a slow one holds back the connection, not memory
	if c.opts.TLSConfig != nil {
		o.SetTLSConfig(c.opts.TLSConfig)
	}
	o.SetOnConnectHandler(func(cl paho.Client) { c.subscribeAll(cl, ingest) })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.log.Warn("connection to the external broker lost", "client_id", id, "err", err)
	})
	return paho.NewClient(o)
}

// subscribeAll makes the subscriptions that belong on cl. Paho calls it from
// its own goroutine after each connect, so it waits for the SUBACK there.
func (c *Client) subscribeAll(cl paho.Client, ingest bool) {
	c.mu.Lock()
	subs := append([]subscription(nil), c.subs...)
	c.mu.Unlock()
	for _, s := range subs {
		if s.shared != ingest {
			continue
		}
		fn := s.fn
		tok := cl.Subscribe(s.filter, 1, func(_ paho.Client, m paho.Message) { fn(m.Topic(), m.Payload()) })
		if !tok.WaitTimeout(c.opts.Timeout) || tok.Error() != nil {
			c.log.Error("subscription refused by the external broker", "filter", s.filter, "err", tok.Error())
			continue
		}
		if st, ok := tok.(*paho.SubscribeToken); ok {
			for _, code := range st.Result() {
				if code == 0x80 {
					c.log.Error("subscription refused by the external broker", "filter", s.filter)
				}
			}
		}
	}
}

func (c *Client) wait(ctx context.Context, tok paho.Token) error {
	t := time.NewTimer(c.opts.Timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return errors.New("timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends payload at QoS 1 on the main connection and waits for the
// broker's acknowledgement.
func (c *Client) Publish(name string, payload []byte, retain bool) error {
	c.mu.Lock()
	cl := c.main
	c.mu.Unlock()
	if cl == nil {
		return errors.New("mqttclient: not started")
	}
	tok := cl.Publish(name, 1, retain, payload)
	if !tok.WaitTimeout(c.opts.Timeout) {
		return errors.New("mqttclient: publish not acknowledged in time")
	}
	return tok.Error()
}

// OnConnection is a no-op: an external broker reports no connection events
// to its clients, so presence relies on the agents' retained presence and
// Will alone.
func (c *Client) OnConnection(func(homeID string, connected bool)) {}

// kick is the control message of the Homeplane broker plugin.
type kick struct {
	ClientID string `json:"client_id,omitempty"`
	Home     string `json:"home,omitempty"`
}

// Disconnect asks the broker to drop the agent's connection. The
// authentication contract already refuses the agent's old credentials.
func (c *Client) Disconnect(agentID string) { c.kick(kick{ClientID: agentID}) }

// DisconnectHome asks the broker to drop every connection of the home.
func (c *Client) DisconnectHome(homeID string) { c.kick(kick{Home: homeID}) }

func (c *Client) kick(k kick) {
	b, _ := json.Marshal(k)
	if err := c.Publish(ControlTopic, b, false); err != nil {
		c.log.Warn("kick not sent to the external broker", "client_id", k.ClientID, "home_id", k.Home, "err", err)
	}
}

// Close disconnects both connections.
func (c *Client) Close() error {
	c.mu.Lock()
	main, ingest := c.main, c.ingest
	c.mu.Unlock()
	for _, cl := range []paho.Client{main, ingest} {
		if cl != nil {
			cl.Disconnect(250)
		}
	}
	return nil
}

// Endpoint is the broker's URL, for the log.
func (c *Client) Endpoint() string { return c.opts.URL }
