package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their paths and a pool trusting the certificate.
func writeCert(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "central"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile, pool
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeTLS runs the server with --tls-cert/--tls-key: the API and the
// broker answer only over TLS, and a client trusting the test CA verifies
// them.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t)
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	startServe(t, "--http-addr", httpAddr, "--mqtt-addr", mqttAddr, "--tls-cert", certFile, "--tls-key", keyFile)

	verified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := getWhenUp(verified, "https://"+httpAddr+"/healthz")
	if err != nil {
		t.Fatalf("https with the test CA: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("healthz over TLS: %s %s", resp.Proto, resp.Status)
	}
	// Without the CA the certificate is refused; plain HTTP gets no answer.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + httpAddr + "/healthz"); err == nil {
		t.Fatal("a client not trusting the test CA accepted the certificate")
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + httpAddr + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP served")
	}

	// The broker: a TLS client trusting the CA gets as far as MQTT
	// authentication (refused: unknown agent); a plain client gets nowhere.
	dial := func(url string, cfg *tls.Config) error {
		o := paho.NewClientOptions().AddBroker(url).SetClientID("agent").SetUsername("agent").SetPassword("nope").SetProtocolVersion(4).
			SetConnectTimeout(3 * time.Second).SetAutoReconnect(false).SetConnectRetry(false)
		if cfg != nil {
			o.SetTLSConfig(cfg)
		}
		tok := paho.NewClient(o).Connect()
		tok.WaitTimeout(5 * time.Second)
		return tok.Error()
	}
	err = dial("tls://"+mqttAddr, &tls.Config{RootCAs: pool})
	if err == nil || !strings.Contains(err.Error(), "not Authorized") && !strings.Contains(err.Error(), "bad user name or password") {
		t.Fatalf("TLS MQTT with the CA: %v, want an MQTT authentication refusal", err)
	}
	if err := dial("tls://"+mqttAddr, &tls.Config{}); err == nil || !errors.As(err, new(*tls.CertificateVerificationError)) && !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("TLS MQTT without the CA: %v, want a certificate error", err)
	}
	if err := dial("tcp://"+mqttAddr, nil); err == nil {
		t.Fatal("plain MQTT connected")
	}
}

// startServe runs serve with a fresh database, a free metrics address and
// args until the test ends.
func startServe(t *testing.T, args ...string) {
	t.Helper()
	_, dbURL := pgtest.NewURL(t)
	cfg, err := loadConfig(append([]string{"--database-url", dbURL, "--metrics-addr", freeAddr(t)}, args...), env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// getWhenUp polls url until the server answers; the body is read and closed.
func getWhenUp(c *http.Client, url string) (*http.Response, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsOffTheAPI is row 13 of the attack suite: /metrics names every
// home with its resource use and has no login, so the public API port must
// not serve it; it is served on --metrics-addr (loopback by default).
func TestMetricsOffTheAPI(t *testing.T) {
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	startServe(t, "--http-addr", httpAddr, "--mqtt-addr", freeAddr(t), "--metrics-addr", metricsAddr)
	c := &http.Client{Timeout: 5 * time.Second}
	if _, err := getWhenUp(c, "http://"+httpAddr+"/healthz"); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "homeplane_central_") {
		t.Fatalf("API port serves metrics: %s", resp.Status)
	}
	resp, err = c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "homeplane_central_mqtt_pending_connections") {
		t.Fatalf("metrics listener: %s, %d bytes", resp.Status, len(body))
	}

	cfg, err := loadConfig([]string{"--database-url", "postgres://x/y"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(cfg.MetricsAddr); !net.ParseIP(host).IsLoopback() {
		t.Fatalf("default metrics-addr %q is not loopback", cfg.MetricsAddr)
	}
}

func TestUsersImportAndPromote(t *testing.T) {
	pool, dbURL := pgtest.NewURL(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "users.csv")
	lines := "# exported from the old system\n" +
		"Old@Example.com,$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk\n\n" +
		"other@example.com,$pbkdf2-sha256$6400$0ZrzXitFSGltTQnBWOsdAw$Y11AchqV4b0sUisdZd0Xr97KWoymNE0LNNrnEgY4H9M\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(ctx, []string{"users", "import", file, "--database-url", dbURL}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"users", "import", "--database-url", dbURL, file}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported 2 users, skipped 0") || !strings.Contains(out.String(), "imported 0 users, skipped 2") {
		t.Fatalf("import said %q", out.String())
	}

	store := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(store, keys, auth.Options{})
	u, _, err := svc.Login(ctx, "old@example.com", "toomanysecrets")
	if err != nil {
		t.Fatalf("imported user cannot log in: %v", err)
	}
	if u.Role != auth.RoleUser {
		t.Fatalf("imported role %q", u.Role)
	}

	if err := run(ctx, []string{"users", "promote", "old@example.com", "--database-url", dbURL}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	u, _, err = svc.Login(ctx, "old@example.com", "toomanysecrets")
	if err != nil || u.Role != auth.RoleAdmin {
		t.Fatalf("after promote: role %q, %v", u.Role, err)
	}
	recs, err := postgres.NewAuditStore(pool).Records(ctx, audit.Filter{Kind: audit.KindAdmin, Intent: "SetUserRole"})
	if err != nil || len(recs) != 1 || recs[0].Detail["target_user_id"] != u.ID || recs[0].Detail["role"] != auth.RoleAdmin ||
		!strings.Contains(recs[0].Text, "users promote old@example.com") {
		t.Fatalf("audit of the promotion: %+v, %v", recs, err)
	}
	if err := run(ctx, []string{"users", "promote", "nobody@example.com", "--database-url", dbURL}, env(nil), io.Discard); err == nil {
		t.Fatal("promoting an unknown user succeeded")
	}
}

func TestUsersImportRefusesBadFiles(t *testing.T) {
	_, dbURL := pgtest.NewURL(t)
	file := filepath.Join(t.TempDir(), "users.csv")
	bad := "good@example.com,$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk\n" +
		"no-hash@example.com\n" +
		"not an email,$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk\n" +
		"md5@example.com,$1$abc$def\n"
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"users", "import", file, "--database-url", dbURL}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("bad file imported")
	}
	for _, want := range []string{"line 2", "line 3", "line 4", "nothing imported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestKeysRotate(t *testing.T) {
	pool, dbURL := pgtest.NewURL(t)
	ctx := context.Background()
	store := postgres.NewAuthStore(pool)
	if _, err := auth.LoadKeys(ctx, store, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keys", "rotate", "--database-url", dbURL, "--activate-in", "30s"}, env(nil), io.Discard); err == nil {
		t.Fatal("activation sooner than the reload interval accepted")
	}
	if err := run(ctx, []string{"keys", "rotate", "--database-url", dbURL}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	keys, err := store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[1].CreatedAt.After(time.Now().Add(4*time.Minute)) {
		t.Fatalf("keys after rotation: %d, newest from %v", len(keys), keys[len(keys)-1].CreatedAt)
	}
}
