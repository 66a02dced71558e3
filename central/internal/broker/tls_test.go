package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
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
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSListener(t *testing.T) {
	cert, pool := selfSigned(t)
	b := startBroker(t, newCreds(), prometheus.NewRegistry(), func(o *broker.Options) {
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})

	dial := func(scheme string, cfg *tls.Config) error {
		opts := paho.NewClientOptions().
			AddBroker(scheme + "://" + b.Addr().String()).
			SetClientID("agent-a").SetUsername("agent-a").SetPassword("secret-a").
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
		if cfg != nil {
			opts.SetTLSConfig(cfg)
		}
		c := paho.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatal("no answer")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	if err := dial("ssl", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("TLS connect: %v", err)
	}
	if err := dial("tcp", nil); err == nil {
		t.Fatal("plain MQTT accepted on the TLS listener")
	}
	if err := dial("ssl", &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("untrusted certificate accepted by the client")
	}
}

func TestKeepaliveImposed(t *testing.T) {
	b := startBroker(t, newCreds(), prometheus.NewRegistry(), func(o *broker.Options) { o.MaxKeepalive = time.Second })
	var lost atomic.Bool
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + b.Addr().String()).
		SetClientID("agent-a").SetUsername("agent-a").SetPassword("secret-a").
		SetProtocolVersion(4).SetAutoReconnect(false).
		SetKeepAlive(0). // asks for no keepalive and never pings
		SetConnectionLostHandler(func(paho.Client, error) { lost.Store(true) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	waitFor(t, "idle client dropped", lost.Load)
}
