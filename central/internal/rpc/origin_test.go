package rpc

import (
	"context"
	"errors"
	"testing"
)

// TestVerificationURIs: the pairing page's address is the public URL, the
// listen address when it names a host, and a request's Host only when
// central listens on every interface and the Host is a loopback name
// (ADR 0053).
func TestVerificationURIs(t *testing.T) {
	cases := map[string]struct {
		public, listen, scheme, host string
		want                         string // "" for a refusal
	}{
		"public URL over everything":         {"https://central.example", "0.0.0.0:8080", "http", "evil.example", "https://central.example/pair"},
		"listen address over the Host":       {"", "192.0.2.10:8080", "http", "evil.example", "http://192.0.2.10:8080/pair"},
		"listen address over localhost":      {"", "127.0.0.1:8080", "http", "localhost:8080", "http://127.0.0.1:8080/pair"},
		"every interface, localhost":         {"", "0.0.0.0:8080", "http", "localhost:9000", "http://localhost:9000/pair"},
		"every interface, IPv6 loopback":     {"", "[::]:8080", "https", "[::1]:8443", "https://[::1]:8443/pair"},
		"every interface, 127.0.0.2":         {"", ":8080", "http", "127.0.0.2", "http://127.0.0.2/pair"},
		"every interface, another name":      {"", "0.0.0.0:8080", "http", "central.example.evil.example", ""},
		"every interface, a name before @":   {"", "0.0.0.0:8080", "http", "localhost@evil.example", ""},
		"every interface, localhost subname": {"", "0.0.0.0:8080", "http", "localhost.evil.example:8080", ""},
		"every interface, a port of letters": {"", "0.0.0.0:8080", "http", "localhost:80x", ""},
		"every interface, a port of 0":       {"", "0.0.0.0:8080", "http", "localhost:0", ""},
		"every interface, an IPv6 zone":      {"", "0.0.0.0:8080", "http", "[::1%25eth0]:8080", ""},
		"port 0, a LAN address":              {"", "127.0.0.1:0", "http", "192.0.2.7:8080", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := &server{publicURL: tc.public, listenHost: listenHost(tc.listen)}
			ctx := context.WithValue(context.Background(), originKey{}, origin{scheme: tc.scheme, host: tc.host})
			uri, complete, err := s.verificationURIs(ctx, "ABCD-EFGH")
			switch {
			case tc.want == "" && !errors.Is(err, errUnnamedHost):
				t.Errorf("got %q, %v; want a refusal", uri, err)
			case tc.want != "" && (err != nil || uri != tc.want || complete != tc.want+"?code=ABCD-EFGH"):
				t.Errorf("got %q %q, %v; want %q", uri, complete, err, tc.want)
			}
		})
	}
}
