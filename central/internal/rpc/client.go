package rpc

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/auth"
)

// maxForwardedHops bounds how much of an X-Forwarded-For header is read.
const maxForwardedHops = 16

// timeoutInterceptor bounds every unary call with timeout, or with its
// procedure's own timeout when that is longer.
func timeoutInterceptor(timeout time.Duration) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().IsClient {
				return next(ctx, req)
			}
			limit := timeout
			if d, ok := procedureTimeouts[req.Spec().Procedure]; ok && d > limit {
				limit = d
			}
			ctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			return next(ctx, req)
		}
	}
}

// ClientAddrs puts the address of the client of every request in its
// context (auth.WithClientAddr), for the login and reset limits. The API
// and the dashboard share it, and so share those limits.
func ClientAddrs(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, ok := clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); ok {
			r = r.WithContext(auth.WithClientAddr(r.Context(), addr))
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the client's address: the connection's peer, unless that
// peer is a trusted proxy, in which case X-Forwarded-For is walked from the
// right past trusted proxies to the first address that is not one.
func clientAddr(peer string, forwarded []string, trusted []netip.Prefix) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(peer)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr().Unmap()
	} else if addr, err = netip.ParseAddr(peer); err != nil {
		return netip.Addr{}, false
	}
	if !isTrusted(addr, trusted) {
		return addr, true
	}
	var hops []string
	for _, h := range forwarded {
		hops = append(hops, strings.Split(h, ",")...)
		if len(hops) > maxForwardedHops {
			hops = hops[len(hops)-maxForwardedHops:]
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A hop we cannot read: the proxy before it was trusted, so
			// stop at the last address it vouched for.
			return addr, true
		}
		addr = hop.Unmap()
		if !isTrusted(addr, trusted) {
			return addr, true
		}
	}
	return addr, true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
