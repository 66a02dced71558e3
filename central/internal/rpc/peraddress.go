package rpc

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxRequestsPerAddress bounds the requests one client address has
// in flight when the configuration leaves it zero.
const DefaultMaxRequestsPerAddress = 512

// errTooManyAtOnce is the answer to a request over its address's bound.
var errTooManyAtOnce = connect.NewError(connect.CodeResourceExhausted, errors.New("too many requests in flight from this address"))

// LimitPerAddress lets one client address (an IPv6 address's /64; the
// address ClientAddrs finds, past trusted proxies) have at most max
// requests in flight, API and dashboard together; the next is answered
// 429 with Retry-After at once, with no body (gRPC's resource_exhausted
// in its headers): a body is flow-controlled, so a client that reads
// nothing would hold even the refusal's handler. Connect's clients read a
// bodiless 429 as unavailable, to retry later. Without the bound an
// HTTP/2 client opens its streams on many connections and never reads the
// answers: each stream keeps a handler and its buffers until the write
// deadline, 18 KiB or so apiece, so one address could hold 4096
// connections of 250 streams each (ADR 0066).
func LimitPerAddress(trusted []netip.Prefix, max int, reg prometheus.Registerer, next http.Handler) http.Handler {
	if max <= 0 {
		max = DefaultMaxRequestsPerAddress
	}
	l := &addrLimit{max: max, held: map[netip.Addr]int{}, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "homeplane_central_http_refused_per_address_total",
		Help: "Requests refused because their client address had --max-requests-per-address in flight.",
	})}
	if reg != nil {
		reg.MustRegister(l.refused)
	}
	errs := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, ok := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if addr.Is6() {
			addr = netip.PrefixFrom(addr, 64).Masked().Addr()
		}
		if !l.acquire(addr) {
			l.refused.Inc()
			if ct := r.Header.Get("Content-Type"); ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") {
				errs.Write(w, r, errTooManyAtOnce) // a trailers-only answer: headers, no DATA
				return
			}
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(httpStatus[errTooManyAtOnce.Code()])
			return
		}
		defer l.release(addr)
		next.ServeHTTP(w, r)
	})
}

// addrLimit counts the requests in flight per address; an address with
// none is forgotten, so the map holds only addresses being served.
type addrLimit struct {
	mu      sync.Mutex
	max     int
	held    map[netip.Addr]int
	refused prometheus.Counter
}

func (l *addrLimit) acquire(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[a] >= l.max {
		return false
	}
	l.held[a]++
	return true
}

func (l *addrLimit) release(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[a] <= 1 {
		delete(l.held, a)
		return
	}
	l.held[a]--
}
