package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/auth"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"direct client lies in the header", "203.0.113.9:5555", []string{"198.51.100.1"}, "203.0.113.9"},
		{"through a trusted proxy", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed hop before the real client", "10.1.2.3:443", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:443", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several headers", "10.1.2.3:443", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"garbage hop stops the walk", "10.1.2.3:443", []string{"198.51.100.1, bogus"}, "10.1.2.3"},
		{"proxy without header", "10.1.2.3:443", nil, "10.1.2.3"},
		{"ipv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"mapped ipv4 peer", "[::ffff:203.0.113.9]:443", nil, "203.0.113.9"},
		{"trusted ipv6 proxy", "[fd00::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := clientAddr(tt.peer, tt.xff, proxies)
			if !ok || got.String() != tt.want {
				t.Fatalf("clientAddr = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
	if _, ok := clientAddr("not an address", nil, proxies); ok {
		t.Fatal("unparsable peer gave an address")
	}
}

func TestTimeoutInterceptorBoundsEveryCall(t *testing.T) {
	var deadline time.Time
	next := func(ctx context.Context, _ connect.AnyRequest) (connect.AnyResponse, error) {
		deadline, _ = ctx.Deadline()
		return nil, nil
	}
	start := time.Now()
	_, _ = timeoutInterceptor(time.Minute)(next)(context.Background(), connect.NewRequest(&homeplanev1.ListHomesRequest{}))
	if deadline.IsZero() || deadline.Sub(start) > time.Minute+time.Second {
		t.Fatalf("handler deadline %v, want within a minute", deadline)
	}
}

func TestClientAddrsWithoutPeer(t *testing.T) {
	var hasAddr bool
	h := ClientAddrs(nil, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, hasAddr = auth.ClientAddrFrom(r.Context())
	}))
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = ""
	h.ServeHTTP(httptest.NewRecorder(), r)
	if hasAddr {
		t.Fatal("a request without a peer got a client address")
	}
}
