package broker_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
)

// flood holds sockets to addr from one source address that never send
// CONNECT, reopening each as soon as the broker closes it, until stop. Its
// dials are paced at rate per second in all: faster, the kernel's accept
// queue overflows before the broker sees a connection, an attack for SYN
// cookies and the firewall rather than for the broker (docs/security.md).
type flood struct {
	dials atomic.Int64
	open  atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startFlood(tb testing.TB, addr string, sockets, rate int, from ...net.IP) *flood {
	tb.Helper()
	f := &flood{stop: make(chan struct{})}
	if len(from) == 0 {
		from = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	tokens := make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-f.stop:
				return
			case <-t.C:
			}
		batch:
			for range rate * int(tick) / int(time.Second) {
				select {
				case tokens <- struct{}{}:
				default: // every socket is held
					break batch
				}
			}
		}
	}()
	for i := range sockets {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: from[i%len(from)]}}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			buf := make([]byte, 1)
			for {
				select {
				case <-f.stop:
					return
				case <-tokens:
				}
				c, err := d.Dial("tcp", addr)
				f.dials.Add(1)
				if err != nil {
					continue
				}
				f.open.Add(1)
				stopped := make(chan struct{})
				go func() {
					select {
					case <-f.stop:
						_ = c.Close()
					case <-stopped:
					}
				}()
				_, _ = c.Read(buf) // returns when the broker (or stop) closes it
				close(stopped)
				_ = c.Close()
				f.open.Add(-1)
			}
		}()
	}
	tb.Cleanup(f.end)
	return f
}

func (f *flood) end() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

// TestConnectionFloodAttack is the MQTT side of the attack suite, row 3:
// one address opens 10,000 sockets that never send CONNECT and reopens them
// as they close; agents connecting from other addresses must still get in,
// and the broker holds no more of the attacker's sockets than its
// per-address limit. MaxClients is lowered so that the broker's side of the
// attack stays within this machine's file limit.
func TestConnectionFloodAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the loopback interface")
	}
	const (
		sockets = 10000
		rate    = 2000 // dials per second
		agents  = 20
	)
	reg := prometheus.NewRegistry()
	creds := newCreds()
	b := startBroker(t, creds, reg, func(o *broker.Options) { o.MaxClients = 1000 })

	f := startFlood(t, b.Addr().String(), sockets, rate)
	// A minute: on a loaded machine the attacker dials slower than its rate.
	waitWithin(t, time.Minute, "the attacker's dials", func() bool { return f.dials.Load() >= sockets })

	connectAgents(t, b, creds, agents, func(int) string { return "127.0.0.2" })

	// The attack is still on: the broker holds at most the per-address
	// limit of the attacker's sockets and refuses the rest at accept.
	def := broker.Options{}.Defaults()
	if pending := metricValue(t, reg, "homeplane_central_mqtt_pending_connections"); pending > float64(def.MaxPendingPerAddress) {
		t.Errorf("pending connections during the attack = %v, want at most %d", pending, def.MaxPendingPerAddress)
	}
	refused := metricValue(t, reg, "homeplane_central_mqtt_connections_rejected_total", "reason", "addr_pending") +
		metricValue(t, reg, "homeplane_central_mqtt_connections_rejected_total", "reason", "addr_rate")
	if refused < sockets/2 {
		t.Errorf("refused at accept for the address = %v, want most of the %d sockets", refused, sockets)
	}
	// The attack stayed within its own address's limits: the pools every
	// address shares never filled.
	for _, reason := range []string{"full", "pending", "rate"} {
		if n := metricValue(t, reg, "homeplane_central_mqtt_connections_rejected_total", "reason", reason); n != 0 {
			t.Errorf("refused for %s = %v, want 0", reason, n)
		}
	}
	t.Logf("attacker dials %d, open now %d, refused at accept %v", f.dials.Load(), f.open.Load(), refused)
}

// connectAgents connects n agents at once, agent i from source(i), each on
// its first attempt, while an attack goes on.
func connectAgents(t *testing.T, b *broker.Broker, creds *fakeCreds, n int, source func(i int) string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		id := fmt.Sprintf("flood-agent-%d", i)
		creds.add(id, "secret-"+id, homeA)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			c, err := connect(t, b, clientConfig{agentID: id, secret: "secret-" + id, localIP: source(i)})
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s refused after %v: %w", id, time.Since(start).Round(time.Millisecond), err)
			case !c.IsConnected():
				errs <- fmt.Errorf("%s not connected", id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConnectionFloodFromManyAddresses spreads the idle sockets over 64
// addresses, each within its own limit, until together they fill the pool
// of connections not yet authenticated. Agents from another address still
// get in: each takes the place of the oldest idle socket of the address
// holding most. MaxPending is lowered to keep the test small.
func TestConnectionFloodFromManyAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("floods the loopback interface")
	}
	const (
		addresses = 64
		sockets   = 2000
		agents    = 20
	)
	reg := prometheus.NewRegistry()
	creds := newCreds()
	b := startBroker(t, creds, reg, func(o *broker.Options) {
		o.MaxClients = 200
		o.MaxPending = 256
		o.MaxPendingPerAddress = 16 // 64 × 16 = 1024 would fit, the pool holds 256
	})
	from := make([]net.IP, addresses)
	for i := range from {
		from[i] = net.IPv4(127, 0, 1, byte(i+1))
	}
	f := startFlood(t, b.Addr().String(), sockets, 2000, from...)
	waitWithin(t, time.Minute, "the pending pool full", func() bool {
		return metricValue(t, reg, "homeplane_central_mqtt_pending_connections") >= 256 &&
			metricValue(t, reg, "homeplane_central_mqtt_connections_rejected_total", "reason", "pending") > 0
	})

	// Each home has an address of its own.
	connectAgents(t, b, creds, agents, func(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i) })

	if ev := metricValue(t, reg, "homeplane_central_mqtt_connections_rejected_total", "reason", "evicted"); ev == 0 {
		t.Error("no idle socket was evicted: the agents did not need the room they got")
	}
	if p := metricValue(t, reg, "homeplane_central_mqtt_pending_connections"); p > 256 {
		t.Errorf("pending = %v, above the pool of 256", p)
	}
	t.Logf("attacker dials %d, open now %d", f.dials.Load(), f.open.Load())
}
