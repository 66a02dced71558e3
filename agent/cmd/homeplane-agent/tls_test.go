package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePEM(tb testing.TB, der []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestCAFileVerifiesCentral: with --ca-file the agent trusts exactly that
// CA, so central's certificate verifies and another server's does not.
func TestCAFileVerifiesCentral(t *testing.T) {
	central := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer central.Close()

	cfg, err := clientTLS(writePEM(t, central.Certificate().Raw))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get(central.URL)
	if err != nil {
		t.Fatalf("central refused with its CA: %v", err)
	}
	resp.Body.Close()

	// A CA file naming another CA: central's certificate does not verify.
	otherCfg, err := clientTLS(writePEM(t, otherCA(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: otherCfg}}).Get(central.URL); err == nil {
		t.Fatal("central's certificate verified against another CA")
	}

	if cfg, err := clientTLS(""); err != nil || cfg != nil {
		t.Fatalf("no CA file: %v, %v; want the system roots (nil)", cfg, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := clientTLS(bad); err == nil {
		t.Fatal("a file without certificates accepted")
	}
	if _, err := clientTLS(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("a missing file accepted")
	}
}

// otherCA returns a self-signed CA certificate unrelated to httptest's.
func otherCA(tb testing.TB) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
