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
