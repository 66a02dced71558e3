package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "central"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// startTLSCentral starts central with --tls-cert: its API and its broker
// speak TLS only. The default HTTP client trusts its certificate for the
// test's length.
func startTLSCentral(t *testing.T) (*central, *tls.Config) {
	t.Helper()
	cert, key, pool := selfSigned(t, t.TempDir())
	tr := http.DefaultTransport.(*http.Transport)
	old := tr.TLSClientConfig
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(func() { tr.TLSClientConfig = old; tr.CloseIdleConnections() })
	db := testDatabase(t)
	httpAddr, mqttAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, "homeplane-central", append([]string{"--http-addr", httpAddr, "--mqtt-addr", mqttAddr,
		"--metrics-addr", metricsAddr, "--database-url", db, "--tls-cert", cert, "--tls-key", key}, unlimited...)...)
	return waitCentral(t, p, "https://"+httpAddr, metricsAddr, db, "tls://"+mqttAddr), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// attackerDialer connects from 127.0.0.2, another address than the
// test's users and agents.
var attackerDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}

// gauge reads a sample without labels from central's /metrics.
func gauge(t *testing.T, c *central, name string) float64 {
	t.Helper()
	resp, err := http.Get(c.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in central's metrics", name)
	return 0
}

// h2 is a raw HTTP/2 connection in an attacker's hands: it writes frames as
// the row chooses and a reader counts what central answers.
type h2 struct {
	conn     net.Conn
	fr       *http2.Framer
	wmu      sync.Mutex
	hbuf     bytes.Buffer
	enc      *hpack.Encoder
	resets   atomic.Int64
	goaway   atomic.Bool
	statuses sync.Map // status code → count
	closed   chan struct{}
}

// dialH2 opens an HTTP/2 connection to c: h2c with prior knowledge, or h2
// over TLS with cfg. settings go in the first SETTINGS frame; read false
// leaves central's frames unread.
func dialH2(t *testing.T, c *central, cfg *tls.Config, read bool, settings ...http2.Setting) *h2 {
	t.Helper()
	u, _ := url.Parse(c.url)
	// Another address than the users the rows serve: central bounds what
	// one address has in flight.
	conn, err := attackerDialer.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2"}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN %q, want h2", p)
		}
		conn = tc
	}
	t.Cleanup(func() { conn.Close() })
	h := &h2{conn: conn, closed: make(chan struct{})}
	h.fr = http2.NewFramer(conn, conn)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if read {
		go h.readLoop()
	}
	return h
}

func (h *h2) readLoop() {
	defer close(h.closed)
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			h.resets.Add(1)
		case *http2.GoAwayFrame:
			h.goaway.Store(true)
		case *http2.MetaHeadersFrame:
			n, _ := h.statuses.LoadOrStore(f.PseudoValue("status"), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.wmu.Lock()
				h.fr.WriteSettingsAck()
				h.wmu.Unlock()
			}
		}
	}
}

// status is how many responses with code central sent.
func (h *h2) status(code string) int64 {
	n, ok := h.statuses.Load(code)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// headers opens stream id with a request for path.
func (h *h2) headers(id uint32, method, path string, end bool, extra ...string) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.hbuf.Reset()
	for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", "central"}, {":path", path}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hbuf.Bytes(), EndStream: end, EndHeaders: true})
}

// ended reports whether central ended the connection (or sent GOAWAY)
// within d.
func (h *h2) ended(d time.Duration) bool {
	select {
	case <-h.closed:
		return true
	case <-time.After(d):
		return h.goaway.Load()
	}
}

// servedWithin fails unless a user's ListHomes is answered within d.
func servedWithin(t *testing.T, c *central, token string, d time.Duration, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if _, err := c.homes.ListHomes(ctx, authed(token, &homeplanev1.ListHomesRequest{})); err != nil {
		t.Errorf("%s: ListHomes of another user: %v after %s", when, err, time.Since(start).Round(time.Millisecond))
	}
}

// rssWithin fails when central's RSS grew more than limit MiB over base.
func rssWithin(t *testing.T, c *central, base int64, limit int64, what string) {
	t.Helper()
	if grew := rssBytes(t, c.proc.cmd.Process.Pid) - base; grew > limit<<20 {
		t.Errorf("%s: central's RSS grew %.1f MiB, bound %d MiB", what, float64(grew)/(1<<20), limit)
	} else {
		t.Logf("%s: RSS %+.1f MiB", what, float64(grew)/(1<<20))
	}
}

// streamFlood opens n streams on each of conns connections, each a
// ListHomes whose body never comes, and checks that central refuses those
// past its stream bound and stays responsive.
func streamFlood(t *testing.T, c *central, cfg *tls.Config, token string, conns, n int) {
	t.Helper()
	base := rssBytes(t, c.proc.cmd.Process.Pid)
	var hs []*h2
	for range conns {
		h := dialH2(t, c, cfg, true)
		hs = append(hs, h)
		for i := range n {
			if err := h.headers(uint32(2*i+1), "POST", "/homeplane.v1.HomeService/ListHomes", false,
				"content-type", "application/json", "authorization", "Bearer "+token); err != nil {
				break
			}
		}
	}
	servedWithin(t, c, token, 3*time.Second, "during the stream flood")
	time.Sleep(2 * time.Second)
	for i, h := range hs {
		if r := h.resets.Load(); r < int64(n-1000) && !h.goaway.Load() {
			t.Errorf("connection %d: %d of %d streams refused and no GOAWAY; the stream bound did not hold", i, r, n)
		}
	}
	rssWithin(t, c, base, 96, "stream flood")
}

// TestAttacksRound9HTTP2 is the HTTP/2 part of the ninth attack round: the
// API's cleartext HTTP/2 (h2c, which central serves for gRPC) with stream
// floods, rapid reset, an HPACK bomb, a CONTINUATION flood and SETTINGS
// abuse, and the same on central with --tls-cert (h2 over TLS), whose
// broker then speaks MQTT over TLS: silent and half-finished handshakes,
// a handshake flood, and the cookies' Secure flag.
func TestAttacksRound9HTTP2(t *testing.T) {
	c := startCentral(t)
	bob := c.user(t, "bob@example.com")

	t.Run("11 h2c stream flood: 4 connections of 2,000 streams whose bodies never come", func(t *testing.T) {
		streamFlood(t, c, nil, bob, 4, 2000)
	})

	t.Run("12 h2c rapid reset: 20,000 requests each cancelled at once", func(t *testing.T) {
		base := rssBytes(t, c.proc.cmd.Process.Pid)
		h := dialH2(t, c, nil, true)
		start := time.Now()
		for i := range 20000 {
			id := uint32(2*i + 1)
			if h.headers(id, "GET", "/admin/login", true) != nil {
				break
			}
			h.wmu.Lock()
			err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			h.wmu.Unlock()
			if err != nil {
				break
			}
		}
		t.Logf("rapid reset: sent in %s, GOAWAY %v", time.Since(start).Round(time.Millisecond), h.goaway.Load())
		servedWithin(t, c, bob, 3*time.Second, "right after the rapid reset")
		rssWithin(t, c, base, 64, "rapid reset")
	})

	t.Run("13 HPACK bomb: 4 KB header indexed 3,000 times per request", func(t *testing.T) {
		base := rssBytes(t, c.proc.cmd.Process.Pid)
		h := dialH2(t, c, nil, true)
		h.wmu.Lock()
		h.hbuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "central"}, {":path", "/readyz"}} {
			h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		h.enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("a", 4000)})
		block := append(h.hbuf.Bytes(), bytes.Repeat([]byte{0xbe}, 3000)...) // index 62: the newest entry, x-bomb
		// Ten requests: 120 MB of headers decoded from 70 KB.
		err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
		h.wmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 10; i++ {
			h.wmu.Lock()
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: bytes.Repeat([]byte{0xbe}, 3000), EndStream: true, EndHeaders: true})
			h.wmu.Unlock()
		}
		time.Sleep(2 * time.Second)
		if ok := h.status("200"); ok > 0 {
			t.Errorf("%d requests with 12 MB of headers answered 200", ok)
		}
		if h.status("431") == 0 && h.resets.Load() == 0 && !h.ended(3*time.Second) {
			t.Error("the HPACK bomb got neither 431, a reset nor the connection's end")
		}
		servedWithin(t, c, bob, 3*time.Second, "after the HPACK bomb")
		rssWithin(t, c, base, 64, "HPACK bomb")
	})

	t.Run("14 CONTINUATION flood: one header block without end", func(t *testing.T) {
		base := rssBytes(t, c.proc.cmd.Process.Pid)
		h := dialH2(t, c, nil, true)
		if err := h.headers(1, "GET", "/readyz", true); err != nil {
			t.Fatal(err)
		}
		h.wmu.Lock()
		h.hbuf.Reset()
		h.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.hbuf.Bytes(), EndStream: true, EndHeaders: false})
		h.wmu.Unlock()
		chunk := bytes.Repeat([]byte{0xbe}, 16000) // the entries the first request added, again and again
		sent := 0
		h.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for ; sent < 10000; sent++ { // up to 160 MB
			h.wmu.Lock()
			err := h.fr.WriteContinuation(3, false, chunk)
			h.wmu.Unlock()
			if err != nil {
				break
			}
		}
		if sent == 10000 && !h.ended(5*time.Second) {
			t.Error("central took 160 MB of CONTINUATION frames on one stream and kept the connection")
		}
		t.Logf("CONTINUATION frames written before the end: %d", sent)
		servedWithin(t, c, bob, 3*time.Second, "after the CONTINUATION flood")
		rssWithin(t, c, base, 64, "CONTINUATION flood")
	})

	t.Run("15 SETTINGS abuse: a window past 2^31-1, a frame size under 16 KiB, a flood unread", func(t *testing.T) {
		base := rssBytes(t, c.proc.cmd.Process.Pid)
		for _, s := range []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, {ID: http2.SettingMaxFrameSize, Val: 100},
			{ID: http2.SettingEnablePush, Val: 2}} {
			h := dialH2(t, c, nil, true, s)
			if !h.ended(5 * time.Second) {
				t.Errorf("SETTINGS %v: the connection lives on", s)
			}
		}
		h := dialH2(t, c, nil, false)
		h.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		n := 0
		for ; n < 1_000_000; n++ {
			if h.fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: uint32(n)}) != nil {
				break
			}
		}
		t.Logf("SETTINGS frames written unread: %d", n)
		servedWithin(t, c, bob, 3*time.Second, "beside the SETTINGS flood")
		rssWithin(t, c, base, 64, "SETTINGS flood")
	})

	t.Run("27 h2c zero window: 40 connections of 250 streams whose answers are never read", func(t *testing.T) {
		goroutines, heap := gauge(t, c, "go_goroutines"), gauge(t, c, "go_memstats_heap_inuse_bytes")
		var hs []*h2
		for range 40 {
			h := dialH2(t, c, nil, true, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
			hs = append(hs, h)
			for i := range 250 {
				if h.headers(uint32(2*i+1), "GET", "/admin/static/style.css", true) != nil {
					break
				}
			}
		}
		time.Sleep(2 * time.Second)
		servedWithin(t, c, bob, 3*time.Second, "beside 10,000 stalled answers")
		g, h := gauge(t, c, "go_goroutines")-goroutines, (gauge(t, c, "go_memstats_heap_inuse_bytes")-heap)/(1<<20)
		t.Logf("zero window: %+.0f goroutines, heap in use %+.1f MiB", g, h)
		// A held answer is a handler goroutine and the stream's; the
		// connections' own are 40 × 2. The heap in use counts garbage the
		// collector has not reached yet (+40 to +76 MiB seen over runs), so
		// its bound is looser than the goroutines', which 10,081 broke.
		if g > 2*512+200 || h > 128 {
			t.Errorf("10,000 unread answers from one address hold %+.0f goroutines and %+.1f MiB of heap; want them bounded by the address, not the streams", g, h)
		}
		for _, h := range hs {
			h.conn.Close()
		}
	})

	t.Run("28 h2c PING flood, answers unread", func(t *testing.T) {
		base := rssBytes(t, c.proc.cmd.Process.Pid)
		h := dialH2(t, c, nil, false)
		h.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		n := 0
		for ; n < 1_000_000; n++ {
			if h.fr.WritePing(false, [8]byte{byte(n)}) != nil {
				break
			}
		}
		t.Logf("PING frames written unread: %d", n)
		servedWithin(t, c, bob, 3*time.Second, "beside the PING flood")
		rssWithin(t, c, base, 64, "PING flood")
	})

	tc, cfg := startTLSCentral(t)
	carol := tc.user(t, "carol@example.com")

	t.Run("16 h2 over TLS stream flood: 2 connections of 2,000 streams", func(t *testing.T) {
		streamFlood(t, tc, cfg, carol, 2, 2000)
	})

	t.Run("17 TLS: dashboard cookies are Secure", func(t *testing.T) {
		tc.admin(t, "ops@example.com")
		b := newBrowser(t, tc)
		b.get(t, "/admin/login")
		p := b.post(t, "/admin/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}})
		cookies := (&http.Response{Header: p.header}).Cookies()
		if p.status != http.StatusSeeOther || len(cookies) == 0 {
			t.Fatalf("login over TLS: %d, %d cookies", p.status, len(cookies))
		}
		for _, ck := range cookies {
			if !ck.Secure || !ck.HttpOnly {
				t.Errorf("cookie %s over TLS: Secure %v, HttpOnly %v", ck.Name, ck.Secure, ck.HttpOnly)
			}
		}
	})

	_, homeID, user, pass := newEnrolledHome(t, tc, "dave@example.com")
	mu, _ := url.Parse(tc.mqttURL)
	agentDial := func() (paho.Client, error) {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker("tls://" + mu.Host).SetClientID(user).SetUsername(user).SetPassword(pass).
			SetTLSConfig(cfg).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
		tok := cl.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return nil, tok.Error()
		}
		return cl, nil
	}
	if cl, err := agentDial(); err != nil {
		t.Fatalf("the agent over MQTT/TLS: %v (home %s)", err, homeID)
	} else {
		cl.Disconnect(0)
	}
	attacker := attackerDialer

	t.Run("18 MQTT/TLS: 100 silent sockets and 20 half ClientHellos from one address", func(t *testing.T) {
		var socks []net.Conn
		for i := range 120 {
			s, err := attacker.Dial("tcp", mu.Host)
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			defer s.Close()
			if i >= 100 {
				s.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}) // a ClientHello's start
			}
			socks = append(socks, s)
		}
		start := time.Now()
		cl, err := agentDial()
		if err != nil || time.Since(start) > 5*time.Second {
			t.Errorf("the agent beside the stalled handshakes: %v after %s", err, time.Since(start))
		} else {
			cl.Disconnect(0)
		}
		deadline := time.Now().Add(15 * time.Second)
		open := 0
		for _, s := range socks {
			s.SetReadDeadline(deadline)
			if _, err := s.Read(make([]byte, 512)); err != nil && isTimeout(err) {
				open++
			}
		}
		if open > 0 {
			t.Errorf("%d of %d stalled handshakes still open after 15 s", open, len(socks))
		}
	})

	t.Run("19 MQTT/TLS: 400 finished handshakes from one address, no CONNECT", func(t *testing.T) {
		base := rssBytes(t, tc.proc.cmd.Process.Pid)
		var wg sync.WaitGroup
		var done atomic.Int64
		sem := make(chan struct{}, 40)
		for range 400 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s, err := tls.DialWithDialer(attacker, "tcp", mu.Host, cfg)
				if err == nil {
					done.Add(1)
					s.Close()
				}
			}()
		}
		wg.Wait()
		t.Logf("handshakes finished: %d", done.Load())
		start := time.Now()
		cl, err := agentDial()
		if err != nil || time.Since(start) > 5*time.Second {
			t.Errorf("the agent after the handshake flood: %v after %s", err, time.Since(start))
		} else {
			cl.Disconnect(0)
		}
		rssWithin(t, tc, base, 64, "handshake flood")
	})
}
