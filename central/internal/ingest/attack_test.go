package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/presence"
	"github.com/homeplane/homeplane/central/internal/registry"
	"github.com/homeplane/homeplane/central/internal/rules"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// stack is central's MQTT path over the real broker and PostgreSQL: the
// intake, presence, the router, the registry and the intent engine.
type stack struct {
	b        *broker.Broker
	reg      *prometheus.Registry
	entities *registry.Store
	engine   *intent.Engine
	in       *ingest.Intake
	agents   map[string]string // agent id → home id; the secret is "s-" + agent id
}

func newStack(t *testing.T, homes int) (*stack, []string) {
	t.Helper()
	pool := pgtest.New(t)
	ctx := context.Background()
	owner := "00000000-0000-4000-8000-000000000001"
	if _, err := postgres.NewAuthStore(pool).CreateUser(ctx, auth.User{
		ID: owner, Email: "o@example.com", Role: auth.RoleUser, CreatedAt: time.Now(),
	}, "unused"); err != nil {
		t.Fatal(err)
	}
	s := &stack{reg: prometheus.NewRegistry(), agents: map[string]string{}}
	svc := home.NewService(postgres.NewHomeStore(pool), home.Options{})
	var ids []string
	for i := range homes {
		h, err := svc.Create(ctx, owner, fmt.Sprintf("home %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID)
		s.agents[fmt.Sprintf("agent-%d", i)] = h.ID
	}
	var err error
	s.b, err = broker.New(broker.CredentialsFunc(func(_ context.Context, id, secret string) (string, error) {
		if h, ok := s.agents[id]; ok && secret == "s-"+id {
			return h, nil
		}
		return "", errors.New("bad credentials")
	}), broker.Options{Addr: "127.0.0.1:0", Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	p, err := presence.New(presence.Options{Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	router, err := command.New(s.b, p, command.Options{Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	s.entities = registry.New(postgres.NewRegistryStore(pool), registry.Options{})
	if s.in, err = ingest.New(s.b, ingest.Targets{Results: router, Presence: p, Entities: s.entities},
		ingest.Options{Registerer: s.reg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.in.Close)
	s.b.OnConnection(p.SetConnected)
	bctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = s.b.Close() })
	if err := s.b.Start(bctx); err != nil {
		t.Fatal(err)
	}
	s.engine = intent.NewEngine(rules.New(rules.Options{}), s.entities, router, intent.Options{Registerer: s.reg})
	return s, ids
}

// connect logs in as the agent with a real paho client.
func (s *stack) connect(t *testing.T, agentID string) paho.Client {
	t.Helper()
	offline, _ := proto.Marshal(&homeplanev1.Presence{AgentId: agentID})
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("tcp://"+s.b.Addr().String()).
		SetClientID(agentID).SetUsername(agentID).SetPassword("s-"+agentID).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(5*time.Second).
		SetBinaryWill(topic.For(s.agents[agentID], topic.Presence), offline, 1, true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connect: %v", agentID, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(c paho.Client, homeID string, kind topic.Kind, m proto.Message, retain bool) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return publishRaw(c, homeID, kind, b, retain)
}

func publishRaw(c paho.Client, homeID string, kind topic.Kind, b []byte, retain bool) error {
	tok := c.Publish(topic.For(homeID, kind), 1, retain, b)
	if !tok.WaitTimeout(30 * time.Second) {
		return errors.New("publish timed out")
	}
	return tok.Error()
}

// floodDeltas returns, for each round, a delta of about 0.9 MB: 200 new
// entities, each with 4.5 KB of attributes. Each is encoded once, when first
// wanted, and shared by every attacker.
func floodDeltas(rounds int) []func() []byte {
	blob, _ := structpb.NewStruct(map[string]any{"junk": strings.Repeat("x", 4500)})
	out := make([]func() []byte, rounds)
	for r := range out {
		out[r] = sync.OnceValue(func() []byte {
			s := &homeplanev1.EntitySync{}
			for i := range 200 {
				s.Entities = append(s.Entities, &homeplanev1.Entity{
					EntityId: fmt.Sprintf("sensor.flood_%d_%d", r, i), Name: "Flood", State: "1", Attributes: blob,
				})
			}
			b, _ := proto.Marshal(s)
			return b
		})
	}
	return out
}

func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAttackEntityFlood: seven homes' agents each send 80 entity deltas of
// about 0.9 MB (12 under the race detector). Central's heap afterwards stays
// within 50 MB of before, each home's registry within its byte budget, and a
// legitimate home's Process stays fast throughout.
func TestAttackEntityFlood(t *testing.T) {
	const attackers = 7
	rounds := 80
	if raceEnabled {
		rounds = 12
	}
	s, homes := newStack(t, attackers+1)
	ctx := t.Context()
	legitHome, legitID := homes[attackers], fmt.Sprintf("agent-%d", attackers)

	legit := s.connect(t, legitID)
	if tok := legit.Subscribe(topic.For(legitHome, topic.Command), 1, func(c paho.Client, m paho.Message) {
		cmd := &homeplanev1.Command{}
		if proto.Unmarshal(m.Payload(), cmd) != nil {
			return
		}
		b, _ := proto.Marshal(&homeplanev1.Result{CommandId: cmd.Id, RequestId: cmd.RequestId, Ok: true})
		c.Publish(topic.For(legitHome, topic.Result), 1, false, b)
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if err := publish(legit, legitHome, topic.Entities, &homeplanev1.EntitySync{Full: true,
		Entities: []*homeplanev1.Entity{{EntityId: "light.kitchen", Name: "Kitchen Light", AreaId: "kitchen", State: "off"}},
		Areas:    []*homeplanev1.Area{{Id: "kitchen", Name: "Kitchen"}},
	}, false); err != nil {
		t.Fatal(err)
	}
	if err := publish(legit, legitHome, topic.Presence, &homeplanev1.Presence{AgentId: legitID, Online: true}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.in.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	process := func() time.Duration {
		start := time.Now()
		resp, err := s.engine.Process(ctx, intent.Request{HomeID: legitHome, Text: "turn on the kitchen light"})
		took := time.Since(start)
		if err != nil || !resp.Success {
			t.Errorf("legitimate Process = %+v, %v", resp, err)
		}
		return took
	}
	var clients []paho.Client
	for i := range attackers {
		clients = append(clients, s.connect(t, fmt.Sprintf("agent-%d", i)))
	}
	process() // warm: the registry index, the broker's paths
	before := heapBytes()
	deltas := floodDeltas(rounds)

	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := publishRaw(c, homes[i], topic.Entities, deltas[r](), false); err != nil {
					t.Errorf("attacker %d round %d: %v", i, r, err)
					return
				}
			}
		}()
	}
	attackDone := make(chan struct{})
	go func() { wg.Wait(); close(attackDone) }()
	var slowest time.Duration
	for during := true; during; {
		select {
		case <-attackDone:
			during = false
		default:
			slowest = max(slowest, process())
		}
	}
	slowest = max(slowest, process())
	for _, c := range clients {
		c.Disconnect(0)
	}
	if err := s.in.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	deltas = nil // the attackers' own buffers are not central's memory
	after := heapBytes()
	t.Logf("heap before %d MB, after %d MB; slowest Process %s", before>>20, after>>20, slowest)

	if after > before+50<<20 {
		t.Errorf("heap grew from %d MB to %d MB after the attack, want within 50 MB", before>>20, after>>20)
	}
	if slowest > 2*time.Second {
		t.Errorf("a legitimate Process took %s during the attack", slowest)
	}
	for i := range attackers {
		snap, err := s.entities.Snapshot(ctx, homes[i])
		if err != nil {
			t.Fatal(err)
		}
		if n := snap.Size(); n > 1<<20 {
			t.Errorf("attacker %d's registry holds %d bytes, over its 1 MiB budget", i, n)
		}
	}
	refused := metric(t, s.reg, "homeplane_central_mqtt_refused_total", "kind", "entities", "reason", "rate") +
		metric(t, s.reg, "homeplane_central_entity_sync_failures_total")
	// Only each home's first delta fits its registry budget.
	if refused < float64(attackers*(rounds-1)) {
		t.Errorf("%v of %d flood deltas refused", refused, attackers*rounds)
	}
}

// metric reads one sample from reg.
func metric(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	return metrictest.Value(tb, reg, name, labels...)
}
