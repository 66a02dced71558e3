package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMQTTModeConfig(t *testing.T) {
	db := "postgres://a@b/c"
	cfg, err := loadConfig(nil, env(map[string]string{"HOMEPLANE_DATABASE_URL": db}), io.Discard)
	if err != nil || cfg.mqttSideConfig.withDefaults().Mode != mqttEmbedded {
		t.Fatalf("default mode: %v %q", err, cfg.Mode)
	}
	_, err = loadConfig([]string{"--mqtt-mode", "external"}, env(map[string]string{"HOMEPLANE_DATABASE_URL": db}), io.Discard)
	for _, want := range []string{"mqtt-broker-url", "replica-id", "mqtt-password", "mqtt-auth-addr", "mqtt-auth-token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("external mode without %s: %v", want, err)
		}
	}
	if _, err := loadConfig([]string{"--mqtt-mode", "cluster"}, env(map[string]string{"HOMEPLANE_DATABASE_URL": db}), io.Discard); err == nil {
		t.Error("unknown mode accepted")
	}

	// The secrets come from files, as mounted secrets.
	dir := t.TempDir()
	secret := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	getenv := env(map[string]string{
		"HOMEPLANE_DATABASE_URL":         db,
		"HOMEPLANE_MQTT_MODE":            "external",
		"HOMEPLANE_MQTT_BROKER_URL":      "tcp://127.0.0.1:1883",
		"HOMEPLANE_REPLICA_ID":           "a-1",
		"HOMEPLANE_MQTT_AUTH_ADDR":       "127.0.0.1:0",
		"HOMEPLANE_MQTT_PASSWORD_FILE":   secret("pw", "service-password"),
		"HOMEPLANE_MQTT_AUTH_TOKEN_FILE": secret("tok", "a-token-of-enough-length"),
	})
	var out strings.Builder
	if err := run(context.Background(), []string{"config"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mqtt_mode=external", "replica_id=a-1", "mqtt_password_set=true", "mqtt_auth_token_set=true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config output lacks %s:\n%s", want, out.String())
		}
	}
	for _, leaked := range []string{"service-password", "a-token-of-enough-length"} {
		if strings.Contains(out.String(), leaked) {
			t.Errorf("config output shows a secret: %s", leaked)
		}
	}

	// And from the config file, keys as documented.
	file := secret("central.json", `{"database_url":"postgres://a@b/c","mqtt_mode":"external","mqtt_broker_url":"tls://broker:8883",
		"replica_id":"b","mqtt_password":"pw","mqtt_auth_addr":"10.0.0.5:8883","mqtt_auth_token":"a-token-of-enough-length"}`)
	cfg, err = loadConfig([]string{"--config", file}, env(nil), io.Discard)
	if err != nil || cfg.Mode != mqttExternal || cfg.ReplicaID != "b" || cfg.BrokerURL != "tls://broker:8883" {
		t.Fatalf("config file: %v %+v", err, cfg.mqttSideConfig)
	}
}
