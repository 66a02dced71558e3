package broker

import (
	"net"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func tcpAddr(s string) net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(s), Port: 40000}
}

// fakeConn is a connection from an address; admission reads nothing else.
type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (f *fakeConn) RemoteAddr() net.Addr { return f.remote }

func connFrom(ip string) *admittedConn {
	return &admittedConn{Conn: &fakeConn{remote: tcpAddr(ip)}}
}

// admitFrom admits a connection from ip and returns it with the reason.
func admitFrom(a *admission, ip string) (*admittedConn, string) {
	c := connFrom(ip)
	r, _ := a.admit(c)
	return c, r
}

func testLimits() admissionLimits {
	return admissionLimits{maxOpen: 8, maxPending: 4, maxPendingPerAddr: 2, rate: 100, burst: 100, addrRate: 1, addrBurst: 3}
}

func TestAdmissionLimits(t *testing.T) {
	cases := []struct {
		name string
		run  func(a *admission, clk *fakeClock) string // the reason of the last admit
		want string
	}{
		{"first connection", func(a *admission, _ *fakeClock) string {
			_, r := admitFrom(a, "192.0.2.1")
			return r
		}, ""},
		{"pending per address", func(a *admission, _ *fakeClock) string {
			admitFrom(a, "192.0.2.1")
			admitFrom(a, "192.0.2.1")
			_, r := admitFrom(a, "192.0.2.1")
			return r
		}, rejectAddrPending},
		{"another address is not affected", func(a *admission, _ *fakeClock) string {
			admitFrom(a, "192.0.2.1")
			admitFrom(a, "192.0.2.1")
			_, r := admitFrom(a, "192.0.2.2")
			return r
		}, ""},
		{"one IPv6 /64 is one address", func(a *admission, _ *fakeClock) string {
			admitFrom(a, "2001:db8::1")
			admitFrom(a, "2001:db8::2")
			_, r := admitFrom(a, "2001:db8::ffff:3")
			return r
		}, rejectAddrPending},
		{"pending in total", func(a *admission, _ *fakeClock) string {
			for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
				admitFrom(a, ip)
			}
			_, r := admitFrom(a, "192.0.2.5")
			return r
		}, rejectPending},
		{"address rate", func(a *admission, _ *fakeClock) string {
			for range 3 {
				k, _ := admitFrom(a, "192.0.2.1")
				a.release(k)
			}
			_, r := admitFrom(a, "192.0.2.1")
			return r
		}, rejectAddrRate},
		{"address rate refills", func(a *admission, clk *fakeClock) string {
			for range 3 {
				k, _ := admitFrom(a, "192.0.2.1")
				a.release(k)
			}
			clk.advance(time.Second)
			_, r := admitFrom(a, "192.0.2.1")
			return r
		}, ""},
		{"authenticated connections leave the pending pool", func(a *admission, _ *fakeClock) string {
			for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
				k, _ := admitFrom(a, ip)
				a.authenticated(k)
			}
			_, r := admitFrom(a, "192.0.2.5")
			return r
		}, ""},
		{"every slot taken", func(a *admission, clk *fakeClock) string {
			for i := range 8 {
				k, r := admitFrom(a, "192.0.2."+string(rune('1'+i)))
				if r != "" {
					return "unexpected " + r
				}
				a.authenticated(k)
			}
			_, r := admitFrom(a, "198.51.100.1")
			return r
		}, rejectFull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			a := newAdmission(testLimits(), clk.now)
			if got := c.run(a, clk); got != c.want {
				t.Fatalf("reason = %q, want %q", got, c.want)
			}
		})
	}
}

// TestAdmissionEvicts: with the pending pool full, a newcomer from an
// address holding fewer pending connections takes the place of the oldest
// one of the address holding most; addresses as heavy as the rest cannot.
func TestAdmissionEvicts(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	a := newAdmission(testLimits(), clk.now) // 4 pending, 2 per address
	first, _ := admitFrom(a, "192.0.2.1")
	admitFrom(a, "192.0.2.1")
	admitFrom(a, "192.0.2.2")
	admitFrom(a, "192.0.2.3")

	c := connFrom("198.51.100.1")
	r, evicted := a.admit(c)
	if r != "" || evicted != first {
		t.Fatalf("newcomer: reason %q, evicted %v; want admitted in place of the oldest of 192.0.2.1", r, evicted)
	}
	if a.pending != 4 || a.open != 5 || !c.pending || first.pending {
		t.Fatalf("pending %d open %d; want 4 and 5 until the evicted one closes", a.pending, a.open)
	}
	a.release(first) // its goroutine sees the close
	if a.pending != 4 || a.open != 4 {
		t.Fatalf("after the close: pending %d open %d", a.pending, a.open)
	}
	// Every address now holds one: nobody may evict anybody.
	if _, r := admitFrom(a, "203.0.113.9"); r != rejectPending {
		t.Fatalf("newcomer with the pool evenly shared: %q, want %q", r, rejectPending)
	}
}

func TestAdmissionRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	lim := testLimits()
	lim.rate, lim.burst, lim.addrBurst, lim.addrRate = 2, 2, 10, 10
	a := newAdmission(lim, clk.now)
	for i, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		k, r := admitFrom(a, ip)
		if r != "" {
			t.Fatalf("connection %d refused: %s", i, r)
		}
		a.release(k)
	}
	if _, r := admitFrom(a, "192.0.2.3"); r != rejectRate {
		t.Fatalf("third connection: %q, want %q", r, rejectRate)
	}
	clk.advance(500 * time.Millisecond)
	if _, r := admitFrom(a, "192.0.2.3"); r != "" {
		t.Fatalf("after refill: %q", r)
	}
}

func TestAdmissionForgetsIdleSources(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	a := newAdmission(testLimits(), clk.now)
	k1, _ := admitFrom(a, "192.0.2.1")
	k2, _ := admitFrom(a, "192.0.2.2")
	a.release(k1)
	a.authenticated(k2)
	// Refused attempts from new addresses leave nothing behind.
	a.lim.maxOpen = 0
	for i := range 100 {
		c := &admittedConn{Conn: &fakeConn{remote: &net.TCPAddr{IP: net.IPv4(198, 51, 100, byte(i)), Port: 1}}}
		if r, _ := a.admit(c); r != rejectFull {
			t.Fatalf("admit: %q", r)
		}
	}
	clk.advance(10 * time.Second)
	admitFrom(a, "203.0.113.1")
	if len(a.sources) != 0 {
		t.Fatalf("sources = %v, want none", a.sources)
	}
	if a.open != 1 || a.pending != 0 {
		t.Fatalf("open %d pending %d, want 1 and 0", a.open, a.pending)
	}
}

// BenchmarkAdmission is the cost admission adds to each accepted connection
// (admit, then release), across a thousand source addresses.
func BenchmarkAdmission(b *testing.B) {
	a := newAdmission(admissionLimits{maxOpen: 1 << 30, maxPending: 1 << 30, maxPendingPerAddr: 1 << 30,
		rate: 1e12, burst: 1e12, addrRate: 1e12, addrBurst: 1e12}, nil)
	conns := make([]*admittedConn, 1000)
	for i := range conns {
		conns[i] = &admittedConn{Conn: &fakeConn{remote: &net.TCPAddr{IP: net.IPv4(10, 0, byte(i>>8), byte(i)), Port: 1}}}
	}
	b.ResetTimer()
	for i := range b.N {
		c := conns[i%len(conns)]
		if r, _ := a.admit(c); r != "" {
			b.Fatal(r)
		}
		a.release(c)
	}
}
