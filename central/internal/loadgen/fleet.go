package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// FleetOptions shape the simulated agents. Zero values take the defaults
// noted, which are the real agent's.
type FleetOptions struct {
	// Broker is the MQTT listener, host:port.
	Broker string
	// Sources are the local addresses connections are bound to, round
	// robin, so that a full reconnect fits the ephemeral port range.
	Sources []netip.Addr
	// ConnectRate paces the first connection of each agent (per second;
	// default 1,000).
	ConnectRate float64
	// KeepAlive is sent in CONNECT and drives the shared ping timer (30s).
	KeepAlive time.Duration
	// Telemetry is the interval between resource samples (15s; negative:
	// none). Deltas is the interval between entity state changes (5m;
	// negative: none).
	Telemetry, Deltas time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, doubled per
	// failed attempt with full jitter (1s, 2m), as the agent does.
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds one connection attempt up to the SUBACK (10s).
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write; a connection whose write times out is
	// closed (5s).
	WriteTimeout time.Duration
	// CountRuns keeps how often each command id ran (Fleet.Runs), for
	// scenarios that check commands run once.
	CountRuns bool
}

func (o *FleetOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.ConnectRate <= 0 {
		o.ConnectRate = 1000
	}
	def(&o.KeepAlive, 30*time.Second)
	def(&o.Telemetry, 15*time.Second)
	def(&o.Deltas, 5*time.Minute)
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, 2*time.Minute)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.WriteTimeout, 5*time.Second)
	if len(o.Sources) == 0 {
		o.Sources = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
}

// Fleet is a set of simulated agents: each is one light MQTT connection
// with a single reader goroutine that also sleeps through its reconnect
// backoff; one shared timer pings, and publishes telemetry and entity
// changes, for all of them.
type Fleet struct {
	opts   FleetOptions
	agents []*simAgent

	connected   atomic.Int64
	everUp      atomic.Int64
	everLost    atomic.Int64
	commands    atomic.Int64
	published   atomic.Int64
	acked       atomic.Int64
	pings       atomic.Int64
	maxFailures atomic.Int64

	runsMu sync.Mutex
	runs   map[string]int // command id → times run, with CountRuns

	connectTime   *latency // one successful attempt: dial to subscribed
	reconnectTime *latency // connection lost to connected again, backoff included
	connectErrors counts
	lost          counts
}

// simAgent is one simulated agent.
type simAgent struct {
	f    *Fleet
	idx  int
	id   Agent
	home memoryHome

	mu     sync.Mutex
	s      *session
	ledger [ledgerSize]ledgerEntry
	next   int

	dmu       sync.Mutex
	pending   map[string]*homeplanev1.Entity // changed states for the next delta
	lastDelta time.Time
	flushing  bool // a delta is due
}

// deltaEvery is the shortest gap between two of an agent's entity deltas,
// as the agent's syncer keeps it.
const deltaEvery = 250 * time.Millisecond

// ledgerSize is how many recent commands a simulated agent remembers, so
// that a command redelivered or resent by another replica (the same id)
// is answered without running again, as the agent's ledger does.
const ledgerSize = 16

type ledgerEntry struct {
	id  string
	res []byte
}

// NewFleet prepares one simulated agent per identity.
func NewFleet(ids []Agent, opts FleetOptions) *Fleet {
	opts.setDefaults()
	f := &Fleet{opts: opts, connectTime: newLatency(), reconnectTime: newLatency(), runs: map[string]int{}}
	f.agents = make([]*simAgent, len(ids))
	for i, id := range ids {
		f.agents[i] = &simAgent{f: f, idx: i, id: id}
	}
	return f
}

// Runs returns how often each command id ran, with CountRuns.
func (f *Fleet) Runs() map[string]int {
	f.runsMu.Lock()
	defer f.runsMu.Unlock()
	return maps.Clone(f.runs)
}

// EverLost is how many connections were lost since the start.
func (f *Fleet) EverLost() int64 { return f.everLost.Load() }

// Size is the number of agents; Connected how many are connected now.
func (f *Fleet) Size() int        { return len(f.agents) }
func (f *Fleet) Connected() int64 { return f.connected.Load() }

// Run connects every agent, paced at ConnectRate, keeps them connected
// (reconnecting with backoff) until ctx ends, then says goodbye the way the
// agent does: presence offline, DISCONNECT.
func (f *Fleet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.tick(ctx)
	}()
	interval := time.Duration(float64(time.Second) / f.opts.ConnectRate)
	next := time.Now()
	for _, a := range f.agents {
		if !sleepUntil(ctx, next) {
			break
		}
		next = next.Add(interval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.run(ctx)
		}()
	}
	wg.Wait()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// tick is the shared timer: every second it visits every agent and sends
// what falls due in that second, spread by the agent's index.
func (f *Fleet) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	every := func(d time.Duration) int64 {
		if d < 0 {
			return 0
		}
		return max(int64(d/time.Second), 1)
	}
	ka, tel, del := every(f.opts.KeepAlive), every(f.opts.Telemetry), every(f.opts.Deltas)
	for n := int64(1); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, a := range f.agents {
			i := int64(a.idx)
			s := a.session()
			if s == nil {
				continue
			}
			switch {
			case tel > 0 && (n+i)%tel == 0:
				a.publish(s, topic.Telemetry, false, telemetry(a.idx, n))
			case del > 0 && (n+i)%del == 0:
				a.publishMsg(s, topic.Entities, a.home.sensorDelta(int(n)))
			case ka > 0 && (n+i)%ka == 0:
				// Like paho, ping only when nothing else was sent.
				if err := s.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}, f.opts.WriteTimeout); err != nil {
					s.nc.Close()
					continue
				}
				f.pings.Add(1)
			}
		}
	}
}

func telemetry(idx int, n int64) []byte {
	b, _ := proto.Marshal(&homeplanev1.Telemetry{
		Time: timestamppb.Now(), ContainerId: "sim", CpuPercent: float64((idx+int(n))%40) / 10,
		MemoryBytes: 300 << 20, MemoryLimitBytes: 2 << 30, Pids: 40,
		Instance: &homeplanev1.Instance{State: "running", Health: "healthy"},
	})
	return b
}

func (a *simAgent) session() *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.s
}

func (a *simAgent) topic(k topic.Kind) string { return topic.For(a.id.HomeID, k) }

func (a *simAgent) publishMsg(s *session, k topic.Kind, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err) // our own messages always encode
	}
	a.publish(s, k, false, b)
}

func (a *simAgent) publish(s *session, k topic.Kind, retain bool, payload []byte) bool {
	if err := s.write(publishPacket(a.topic(k), retain, payload), a.f.opts.WriteTimeout); err != nil {
		s.nc.Close() // the reader sees it and reconnects
		return false
	}
	a.f.published.Add(1)
	return true
}

func (a *simAgent) presence(online bool) []byte {
	b, _ := proto.Marshal(&homeplanev1.Presence{
		AgentId: a.id.AgentID, Online: online, AgentVersion: "homeplane-load", HomeAssistantVersion: "2026.11.0",
		Time: timestamppb.Now(),
	})
	return b
}

// run is the agent's only goroutine: connect, read until the connection is
// lost, back off, connect again; until ctx ends.
func (a *simAgent) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		if s := a.session(); s != nil {
			a.publish(s, topic.Presence, true, a.presence(false))
			s.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}, time.Second)
			s.nc.Close()
		}
	}()
	var lostAt time.Time
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		s, early, err := a.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.f.connectErrors.add(classify(err))
			failures++
			a.f.maxFailures.Store(max(a.f.maxFailures.Load(), int64(failures)))
			sleepUntil(ctx, time.Now().Add(a.backoff(failures)))
			continue
		}
		a.f.connectTime.record(time.Since(start))
		if !lostAt.IsZero() {
			a.f.reconnectTime.record(time.Since(lostAt))
		} else {
			a.f.everUp.Add(1)
		}
		a.mu.Lock()
		a.s = s
		a.mu.Unlock()
		a.f.connected.Add(1)
		up := time.Now()

		err = a.serve(ctx, s, early)

		a.mu.Lock()
		a.s = nil
		a.mu.Unlock()
		a.f.connected.Add(-1)
		s.nc.Close()
		if ctx.Err() != nil {
			return
		}
		a.f.lost.add(classify(err))
		a.f.everLost.Add(1)
		lostAt = time.Now()
		if time.Since(up) >= time.Minute {
			failures = 0
		}
		failures++
		sleepUntil(ctx, time.Now().Add(a.backoff(failures)))
	}
}

// backoff is the agent's: uniformly random in [0, min(max, min·2^(n-1))].
func (a *simAgent) backoff(n int) time.Duration {
	ceil := a.f.opts.MinBackoff
	for i := 1; i < n && ceil < a.f.opts.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, a.f.opts.MaxBackoff)
	return rand.N(ceil + 1)
}

// dial makes one connection attempt as the agent does: CONNECT with a
// persistent session and a retained offline Will, SUBSCRIBE to its commands,
// presence online (retained), then a full entity sync.
func (a *simAgent) dial(ctx context.Context) (*session, []packets.Packet, error) {
	src := a.f.opts.Sources[a.idx%len(a.f.opts.Sources)]
	d := net.Dialer{Timeout: a.f.opts.ConnectTimeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	nc, err := d.DialContext(ctx, "tcp", a.f.opts.Broker)
	if err != nil {
		return nil, nil, err
	}
	s := &session{nc: nc, br: bufio.NewReaderSize(nc, readBuffer)}
	connect := &packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 4,
		Connect: packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: a.id.AgentID,
			Keepalive: uint16(a.f.opts.KeepAlive / time.Second),
			WillFlag:  true, WillTopic: a.topic(topic.Presence), WillPayload: a.presence(false), WillQos: 1, WillRetain: true,
			UsernameFlag: true, Username: []byte(a.id.Username), PasswordFlag: true, Password: []byte(a.id.Password),
		},
	}
	early, err := s.handshake(connect, a.topic(topic.Command), a.f.opts.ConnectTimeout)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if !a.publish(s, topic.Presence, true, a.presence(true)) {
		return nil, nil, errors.New("announce presence: write failed")
	}
	a.publishMsg(s, topic.Entities, a.home.fullSync())
	return s, early, nil
}

// serve reads until the connection fails, answering commands.
func (a *simAgent) serve(ctx context.Context, s *session, early []packets.Packet) error {
	for _, pk := range early {
		a.handle(s, pk)
	}
	for {
		pk, err := s.read()
		if err != nil {
			return err
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			a.handle(s, pk)
		case packets.Puback:
			a.f.acked.Add(1)
		}
	}
}

// handle answers one command: run it against the in-memory home, publish
// the result, then acknowledge the command, as the agent does. A redelivered
// command gets the same result without running again. States the command
// changed follow in an entity delta, as the agent's syncer sends one for
// every change Home Assistant reports.
func (a *simAgent) handle(s *session, pk packets.Packet) {
	ack := func() {
		if pk.FixedHeader.Qos > 0 {
			s.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 4, PacketID: pk.PacketID}, a.f.opts.WriteTimeout)
		}
	}
	if pk.TopicName != a.topic(topic.Command) {
		ack()
		return
	}
	cmd := &homeplanev1.Command{}
	if err := proto.Unmarshal(pk.Payload, cmd); err != nil {
		ack()
		return
	}
	a.f.commands.Add(1)
	res := a.answered(cmd.GetId())
	var changed []*homeplanev1.Entity
	if res == nil {
		r := a.home.run(cmd)
		changed = r.GetChanged()
		res, _ = proto.Marshal(r)
		a.ledger[a.next] = ledgerEntry{id: cmd.GetId(), res: res}
		a.next = (a.next + 1) % ledgerSize
		if a.f.opts.CountRuns {
			a.f.runsMu.Lock()
			a.f.runs[cmd.GetId()]++
			a.f.runsMu.Unlock()
		}
	}
	if !a.publish(s, topic.Result, false, res) {
		return
	}
	ack()
	if len(changed) > 0 {
		a.queueDelta(changed)
	}
}

// queueDelta sends changed states in the next delta, at once when the last
// one is deltaEvery old, else when it will be.
func (a *simAgent) queueDelta(changed []*homeplanev1.Entity) {
	a.dmu.Lock()
	if a.pending == nil {
		a.pending = make(map[string]*homeplanev1.Entity)
	}
	for _, e := range changed {
		a.pending[e.GetEntityId()] = e
	}
	if a.flushing {
		a.dmu.Unlock()
		return
	}
	a.flushing = true
	wait := deltaEvery - time.Since(a.lastDelta)
	a.dmu.Unlock()
	if wait <= 0 {
		a.flushDelta()
		return
	}
	time.AfterFunc(wait, a.flushDelta)
}

func (a *simAgent) flushDelta() {
	a.dmu.Lock()
	sync := &homeplanev1.EntitySync{Time: timestamppb.Now()}
	for _, e := range a.pending {
		sync.Entities = append(sync.Entities, e)
	}
	clear(a.pending)
	a.lastDelta, a.flushing = time.Now(), false
	a.dmu.Unlock()
	if s := a.session(); s != nil && len(sync.Entities) > 0 {
		a.publishMsg(s, topic.Entities, sync)
	}
}

// answered is the result of a command id run before, or nil.
func (a *simAgent) answered(id string) []byte {
	if id == "" {
		return nil
	}
	for _, e := range a.ledger {
		if e.id == id {
			return e.res
		}
	}
	return nil
}

// classify names an error for the counts: a CONNACK code, a timeout, a
// refused or reset connection, end of stream.
func classify(err error) string {
	var r errRefused
	var ne net.Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &r):
		return "connack_" + connackCode(byte(r))
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return "other: " + msg
}
