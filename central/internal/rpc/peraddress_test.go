package rpc

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// One address holds at most max requests in flight, API and pages alike;
// the next is refused at once (resource_exhausted over Connect, a bare 429
// elsewhere), other addresses are served, an IPv6 /64 counts as one, a
// trusted proxy's clients count apart, and a finished request frees its slot.
func TestLimitPerAddress(t *testing.T) {
	release := make(chan struct{})
	var entered sync.WaitGroup
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			entered.Done()
			<-release
		}
		w.Write([]byte("ok"))
	})
	reg := prometheus.NewRegistry()
	proxy := netip.MustParsePrefix("10.0.0.1/32")
	h := LimitPerAddress([]netip.Prefix{proxy}, 2, reg, next)
	serve := func(remote, path, forwarded string, contentType string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}"))
		r.RemoteAddr = remote
		if forwarded != "" {
			r.Header.Set("X-Forwarded-For", forwarded)
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	holders := []struct{ remote, fwd string }{{"192.0.2.1:1000", ""}, {"192.0.2.1:1001", ""}, {"[2001:db8::1]:1", ""}, {"[2001:db8::2]:2", ""},
		{"10.0.0.1:5", "198.51.100.7"}, {"10.0.0.1:6", "198.51.100.7"}}
	entered.Add(len(holders))
	var done sync.WaitGroup
	for _, hd := range holders {
		done.Add(1)
		go func() { defer done.Done(); serve(hd.remote, "/hold", hd.fwd, "") }()
	}
	entered.Wait()

	for _, try := range []struct{ remote, fwd string }{{"192.0.2.1:2000", ""}, {"[2001:db8::3]:3", ""}, {"10.0.0.1:7", "198.51.100.7"}} {
		// No body: it would be flow-controlled, and a client that reads
		// nothing would hold the refusal's handler.
		for _, ct := range []string{"application/json", "application/proto", ""} {
			w := serve(try.remote, "/homeplane.v1.HomeService/ListHomes", try.fwd, ct)
			if w.Code != http.StatusTooManyRequests || w.Body.Len() != 0 || w.Header().Get("Retry-After") == "" {
				t.Errorf("%s (%s) over the bound, %q: %d, body %q, Retry-After %q", try.remote, try.fwd, ct, w.Code, w.Body.String(), w.Header().Get("Retry-After"))
			}
		}
		w := serve(try.remote, "/homeplane.v1.HomeService/ListHomes", try.fwd, "application/grpc")
		if w.Body.Len() != 0 || w.Header().Get("Grpc-Status") != "8" {
			t.Errorf("%s over the bound, over gRPC: %d, grpc-status %q, body %q", try.remote, w.Code, w.Header().Get("Grpc-Status"), w.Body.String())
		}
	}
	for _, other := range []struct{ remote, fwd string }{{"192.0.2.2:1", ""}, {"[2001:db8:0:1::1]:1", ""}, {"10.0.0.1:8", "198.51.100.8"}} {
		if w := serve(other.remote, "/admin/", other.fwd, ""); w.Code != http.StatusOK {
			t.Errorf("%s (%s), another address: %d", other.remote, other.fwd, w.Code)
		}
	}
	if got := refusedCount(t, reg); got != 12 {
		t.Errorf("refused counter = %v, want 12", got)
	}
	close(release)
	done.Wait()
	if w := serve("192.0.2.1:3000", "/admin/", "", ""); w.Code != http.StatusOK {
		t.Errorf("after the held requests finished: %d", w.Code)
	}
}

// refusedCount is the value of the one counter registered in reg.
func refusedCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
