package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/broker"
)

func TestMQTTLimitsPrecedence(t *testing.T) {
	cfg, err := loadConfig([]string{"--database-url", "postgres://x/y", "--mqtt-max-clients", "15000", "--mqtt-connect-timeout", "3s"},
		env(map[string]string{"HOMEPLANE_MQTT_MAX_CLIENTS": "100", "HOMEPLANE_MQTT_ADDRESS_ACCEPT_RATE": "12.5",
			"HOMEPLANE_METRICS_ADDR": "off"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.MQTT.options()
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxClients != 15000 || o.ConnectTimeout != 3*time.Second || o.AddressAcceptRate != 12.5 {
		t.Fatalf("options = %+v", o)
	}
	if o.MaxPendingPerAddress != 0 {
		t.Fatalf("unset limit = %d, want 0 (the broker's default)", o.MaxPendingPerAddress)
	}
	if !metricsDisabled(cfg.MetricsAddr) {
		t.Fatalf("metrics-addr = %q, want off", cfg.MetricsAddr)
	}
}

// The connection buffers: the read buffer is taken from a flag or the
// environment and checked, and the write queue follows the inflight window
// unless set.
func TestMQTTConnectionBuffers(t *testing.T) {
	for _, tc := range []struct {
		name              string
		args              []string
		env               map[string]string
		wantRead, wantWin int
		wantErr           string
	}{
		{name: "defaults", wantRead: 512, wantWin: 64},
		{name: "read buffer flag", args: []string{"--mqtt-client-read-buffer", "2048"}, wantRead: 2048, wantWin: 64},
		{name: "read buffer env", env: map[string]string{"HOMEPLANE_MQTT_CLIENT_READ_BUFFER": "1024"}, wantRead: 1024, wantWin: 64},
		{name: "write queue follows max inflight", args: []string{"--mqtt-max-inflight", "20"}, wantRead: 512, wantWin: 20},
		{name: "write queue set", args: []string{"--mqtt-max-inflight", "20", "--mqtt-client-write-buffer", "100"}, wantRead: 512, wantWin: 100},
		{name: "read buffer too small", args: []string{"--mqtt-client-read-buffer", "8"}, wantErr: "read buffer"},
		{name: "read buffer too large", env: map[string]string{"HOMEPLANE_MQTT_CLIENT_READ_BUFFER": "1000000"}, wantErr: "read buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(append([]string{"--database-url", "postgres://x/y"}, tc.args...), env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, err := cfg.MQTT.options()
			if err != nil {
				t.Fatal(err)
			}
			o = o.Defaults()
			if o.ClientReadBuffer != tc.wantRead || o.ClientWriteBuffer != tc.wantWin {
				t.Fatalf("read buffer %d, write queue %d; want %d, %d", o.ClientReadBuffer, o.ClientWriteBuffer, tc.wantRead, tc.wantWin)
			}
		})
	}
}

func TestMQTTLimitsRejected(t *testing.T) {
	_, err := loadConfig([]string{"--database-url", "postgres://x/y", "--mqtt-max-inflight", "70000", "--mqtt-max-keepalive", "1ms"},
		env(map[string]string{"HOMEPLANE_MQTT_MAX_PENDING": "-1"}), io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"mqtt-max-inflight", "keepalive", "pending"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	_, err = loadConfig([]string{"--database-url", "postgres://x/y"}, env(map[string]string{"HOMEPLANE_MQTT_ACCEPT_RATE": "NaN"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HOMEPLANE_MQTT_ACCEPT_RATE") {
		t.Fatalf("NaN accept rate: %v", err)
	}
}

func TestMQTTLimitsHelpShowsDefaults(t *testing.T) {
	var help strings.Builder
	_, _ = loadConfig([]string{"-h"}, env(nil), &help)
	for _, want := range []string{"-mqtt-max-clients", "(default 20000)", "-mqtt-max-pending-per-address", "(default 64)",
		"-mqtt-connect-timeout", "(default 5s)", "-metrics-addr"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestMQTTLimitsDocumented keeps docs/protocol.md's table of broker limits
// in step with the flags and the broker's defaults.
func TestMQTTLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	def := broker.Options{}.Defaults()
	for _, m := range mqttLimitList {
		row := fmt.Sprintf("| `--mqtt-%s` | %v |", m.name, m.def(def))
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/protocol.md lacks the row %q", row)
		}
	}
}
