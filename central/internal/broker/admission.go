package broker

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Reasons the listener closes a connection at accept, as counted in the
// rejected connections metric.
const (
	rejectFull        = "full"         // every slot, authenticated or not, is taken
	rejectPending     = "pending"      // too many connections not yet authenticated
	rejectAddrPending = "addr_pending" // too many of them from this source address
	rejectAddrRate    = "addr_rate"    // this source address connects too fast
	rejectRate        = "rate"         // everyone together connects too fast
	rejectEvicted     = "evicted"      // pending, and made room for an address holding fewer
)

var rejectReasons = []string{rejectFull, rejectPending, rejectAddrPending, rejectAddrRate, rejectRate, rejectEvicted}

// AdmissionOptions bound the connections the broker's listener takes before
// their agents authenticate. Zero values take the defaults below.
type AdmissionOptions struct {
	// MaxPending bounds connections not yet authenticated (from accept to a
	// successful login), in a pool beside MaxClients so that idle sockets
	// never take authenticated agents' room. Default 2048.
	MaxPending int
	// MaxPendingPerAddress bounds the pending connections of one source
	// address (IPv4, or IPv6 /64). Default 64.
	MaxPendingPerAddress int
	// AcceptRate and AcceptBurst bound the connections accepted per second
	// from all addresses together. Default 1000/s, burst 2000: a fleet of
	// 15,000 reconnects within a minute.
	AcceptRate  float64
	AcceptBurst int
	// AddressAcceptRate and AddressAcceptBurst bound them per source
	// address. Default 100/s, burst 200.
	AddressAcceptRate  float64
	AddressAcceptBurst int
}

func (o *AdmissionOptions) setDefaults() {
	orDefault(&o.MaxPending, 2048)
	orDefault(&o.MaxPendingPerAddress, 64)
	orDefault(&o.AcceptRate, 1000)
	orDefault(&o.AcceptBurst, 2000)
	orDefault(&o.AddressAcceptRate, 100)
	orDefault(&o.AddressAcceptBurst, 200)
}

func (o *AdmissionOptions) check() error {
	var errs []error
	if o.MaxPending < 0 || o.MaxPendingPerAddress < 0 {
		errs = append(errs, errors.New("max pending connections must be positive"))
	}
	if o.AcceptRate < 0 || o.AcceptBurst < 0 || o.AddressAcceptRate < 0 || o.AddressAcceptBurst < 0 {
		errs = append(errs, errors.New("accept rates and bursts must be positive"))
	}
	return errors.Join(errs...)
}

func (o *AdmissionOptions) limits(maxClients int) admissionLimits {
	return admissionLimits{
		maxOpen:           maxClients + o.MaxPending,
		maxPending:        o.MaxPending,
		maxPendingPerAddr: o.MaxPendingPerAddress,
		rate:              o.AcceptRate,
		burst:             float64(o.AcceptBurst),
		addrRate:          o.AddressAcceptRate,
		addrBurst:         float64(o.AddressAcceptBurst),
	}
}

// orDefault sets *p to v when it holds the zero value.
func orDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// admissionLimits bound the connections the listener takes before mochi sees
// them. A connection is pending from accept until its agent authenticates;
// pending connections have a pool of their own beside MaxClients, so idle
// sockets can never take the room authenticated agents hold, and one source
// address can hold only a small part of that pool.
type admissionLimits struct {
	maxOpen           int     // every open connection: MaxClients + maxPending
	maxPending        int     // pending connections from all addresses
	maxPendingPerAddr int     // pending connections from one address
	rate, burst       float64 // accepted connections per second, all addresses
	addrRate          float64 // accepted connections per second, one address
	addrBurst         float64
}

// admission is the listener's accounting of open and pending connections,
// in total and per source address (an IPv4 address or an IPv6 /64, which
// one subscriber usually holds whole).
type admission struct {
	lim admissionLimits
	now func() time.Time

	mu      sync.Mutex
	open    int
	pending int
	all     bucket
	sources map[netip.Prefix]*source
	swept   time.Time
}

// source is what admission keeps about one address while it has pending
// connections or its bucket refills; it is forgotten after that, so the map
// holds only addresses seen in the last few seconds.
type source struct {
	pending []*admittedConn // oldest first
	bucket  bucket
}

func newAdmission(lim admissionLimits, now func() time.Time) *admission {
	if now == nil {
		now = time.Now
	}
	return &admission{lim: lim, now: now, sources: make(map[netip.Prefix]*source)}
}

// admit decides on the new connection c: it returns "" when c is admitted
// (and pending), or the reason it must be closed. When the pending pool is
// full, a newcomer from an address holding fewer pending connections than
// the address holding most takes the place of that address's oldest one,
// which admit returns as evicted for the caller to close: many addresses
// together cannot keep an agent from another address out either.
func (a *admission) admit(c *admittedConn) (reason string, evicted *admittedConn) {
	c.key = sourceKey(c.RemoteAddr())
	c.adm = a
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	// Unknown addresses get no entry until admitted, so refused attempts
	// from many addresses cost no memory.
	src := a.sources[c.key]
	probe := src
	if probe == nil {
		probe = &source{}
	}
	switch {
	case a.open >= a.lim.maxOpen:
		return rejectFull, nil
	case len(probe.pending) >= a.lim.maxPendingPerAddr:
		return rejectAddrPending, nil
	case !probe.bucket.ready(now, a.lim.addrRate, a.lim.addrBurst):
		return rejectAddrRate, nil
	case !a.all.ready(now, a.lim.rate, a.lim.burst):
		return rejectRate, nil
	}
	if a.pending >= a.lim.maxPending {
		heavy := a.heaviestLocked()
		if heavy == nil || len(heavy.pending) <= len(probe.pending)+1 {
			return rejectPending, nil
		}
		evicted = heavy.pending[0]
		a.unpendLocked(evicted)
	}
	if src == nil {
		src = probe
		a.sources[c.key] = src
	}
	src.bucket.take()
	a.all.take()
	src.pending = append(src.pending, c)
	c.pending = true
	a.pending++
	a.open++
	return "", evicted
}

// heaviestLocked returns the source with the most pending connections.
func (a *admission) heaviestLocked() *source {
	var heavy *source
	for _, s := range a.sources {
		if heavy == nil || len(s.pending) > len(heavy.pending) {
			heavy = s
		}
	}
	return heavy
}

// authenticated moves c out of the pending pool.
func (a *admission) authenticated(c *admittedConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unpendLocked(c)
}

// release forgets the closed connection c.
func (a *admission) release(c *admittedConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.open--
	a.unpendLocked(c)
}

func (a *admission) unpendLocked(c *admittedConn) {
	if !c.pending {
		return
	}
	c.pending = false
	a.pending--
	s := a.sources[c.key]
	if s == nil {
		return
	}
	for i, p := range s.pending {
		if p == c {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			break
		}
	}
}

// pendingCount is the number of connections not yet authenticated.
func (a *admission) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

// sweep drops, at most once a second, the sources that hold nothing: no
// pending connection and a full bucket.
func (a *admission) sweep(now time.Time) {
	if now.Sub(a.swept) < time.Second {
		return
	}
	a.swept = now
	for k, s := range a.sources {
		if len(s.pending) == 0 && s.bucket.full(now, a.lim.addrRate, a.lim.addrBurst) {
			delete(a.sources, k)
		}
	}
}

// sourceKey is the address a limit applies to: IPv4 addresses whole, IPv6
// by /64.
func sourceKey(addr net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// bucket is a token bucket; the zero value is full.
type bucket struct {
	used float64 // tokens taken and not yet refilled
	last time.Time
}

// ready refills the bucket up to now and reports whether a token is left.
func (b *bucket) ready(now time.Time, rate, burst float64) bool {
	if !b.last.IsZero() {
		b.used = max(0, b.used-now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	return b.used+1 <= burst
}

func (b *bucket) take() { b.used++ }

func (b *bucket) full(now time.Time, rate, burst float64) bool {
	return b.used-now.Sub(b.last).Seconds()*rate <= 0
}

// admittedConn is a connection the listener admitted; the hook marks it
// authenticated when its agent logs in, and the listener releases it when
// it closes. pending is guarded by adm.mu.
//
// Its deadlines are moved lazily. mochi refreshes the read deadline on
// every packet and every write had one of its own: with thousands of
// connections, each move is an operation on the runtime's timer heap (4 %
// of central's CPU at 500 requests a second with 15,000 agents). readBy is
// touched only by the connection's reader (mochi's read loop), writeBy only
// under mochi's client lock, which every write holds.
type admittedConn struct {
	net.Conn
	key          netip.Prefix
	adm          *admission
	pending      bool
	writeTimeout time.Duration
	readBy       time.Time // the read deadline set; zero for none
	writeBy      time.Time // the write deadline set
}

// maxDeadlineSlack bounds how late a read deadline may fire.
const maxDeadlineSlack = 5 * time.Second

// Write bounds each write by the write timeout: a write starts with at
// least half of it left, so the deadline moves at most once every half
// timeout, not on every write. mochi only logs a failed write and goes on,
// so a write that times out closes the connection: its reader then ends
// the client, and the agent reconnects.
func (c *admittedConn) Write(b []byte) (int, error) {
	if c.writeTimeout <= 0 {
		return c.Conn.Write(b)
	}
	if now := time.Now(); c.writeBy.Sub(now) < c.writeTimeout/2 {
		c.writeBy = now.Add(c.writeTimeout)
		_ = c.Conn.SetWriteDeadline(c.writeBy)
	}
	n, err := c.Conn.Write(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		_ = c.Conn.Close()
	}
	return n, err
}

// SetDeadline sets the read deadline only: mochi refreshes it on every
// packet it reads (1.5 × keepalive), which must not lift the write timeout.
// A deadline already set at or after t is kept; otherwise it is moved a
// little past t (a tenth of the time left, at most maxDeadlineSlack), so a
// busy connection moves it once in that span. It is never earlier than
// asked, so no agent is dropped early, and at most that much later.
func (c *admittedConn) SetDeadline(t time.Time) error {
	if t.IsZero() {
		c.readBy = t
		return c.Conn.SetReadDeadline(t)
	}
	if !c.readBy.IsZero() && !t.After(c.readBy) {
		return nil
	}
	c.readBy = t.Add(min(max(time.Until(t)/10, 0), maxDeadlineSlack))
	return c.Conn.SetReadDeadline(c.readBy)
}

// authenticated takes the connection out of the pending pool.
func (c *admittedConn) authenticated() { c.adm.authenticated(c) }

func (c *admittedConn) release() { c.adm.release(c) }
