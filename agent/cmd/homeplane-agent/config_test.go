package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigPrecedence(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(config) bool
	}{
		{"defaults", []string{"--ha-token", "t"}, nil, func(c config) bool {
			return c.CentralURL == "http://127.0.0.1:8080" && c.MQTTURL == "tcp://127.0.0.1:1883" && !c.MQTTURLSet &&
				c.HAURL == "http://127.0.0.1:8123" && c.LogLevel == slog.LevelInfo && c.MQTTMaxBackoff == 2*time.Minute
		}},
		{"env over default", nil, map[string]string{"HOMEPLANE_HA_TOKEN": "t", "HOMEPLANE_MQTT_URL": "tcp://broker:1883", "HOMEPLANE_LOG_LEVEL": "debug"}, func(c config) bool {
			return c.MQTTURL == "tcp://broker:1883" && c.MQTTURLSet && c.LogLevel == slog.LevelDebug && c.HAToken == "t"
		}},
		{"flag over env", []string{"--mqtt-url", "ssl://flag:8883", "--state-dir", "/tmp/x"}, map[string]string{"HOMEPLANE_HA_TOKEN": "t", "HOMEPLANE_MQTT_URL": "tcp://env:1883", "HOMEPLANE_STATE_DIR": "/env"}, func(c config) bool {
			return c.MQTTURL == "ssl://flag:8883" && c.StateDir == "/tmp/x"
		}},
		{"managed mode onboards without a token", []string{"--mode", "managed", "--image", "ha:1", "--container-name", "ha-test"}, nil, func(c config) bool {
			return c.Mode == "managed" && c.HAToken == "" && c.ContainerName == "ha-test"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(c.args, env(c.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("config = %+v", cfg)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := parseConfig([]string{
		"--central-url", "127.0.0.1:8080", "--mqtt-url", "http://x", "--ha-url", "", "--log-level", "loud",
		"--metrics-addr", "nonsense", "--mqtt-max-backoff", "1ms", "--state-dir", "", "--container-name", "-bad/name",
	}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"central-url", "mqtt-url", "ha-url", "ha-token", "log-level", "metrics-addr", "mqtt-max-backoff", "state-dir", "container-name"} {
		if !strings.Contains(err.Error(), want+":") {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestParseConfigHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, env(map[string]string{"HOMEPLANE_HA_TOKEN": "hunter2"}), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatal("help output shows a secret from the environment")
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	cfg, err := parseConfig([]string{"--ha-token", "hunter2", "--enrollment-token", "enroll-me"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "config", cfg)
	if s := out.String(); strings.Contains(s, "hunter2") || strings.Contains(s, "enroll-me") || !strings.Contains(s, "ha_url") {
		t.Fatalf("logged config = %s", s)
	}
}

func TestParseConfigSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := parseConfig(nil, env(map[string]string{
		"HOMEPLANE_HA_TOKEN_FILE":         write("ha", "ha-secret\n"),
		"HOMEPLANE_ENROLLMENT_TOKEN_FILE": write("enroll", "enroll-secret"),
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HAToken != "ha-secret" || cfg.EnrollmentToken != "enroll-secret" {
		t.Fatalf("tokens from files: ha %q, enrollment %q", cfg.HAToken, cfg.EnrollmentToken)
	}

	_, err = parseConfig(nil, env(map[string]string{
		"HOMEPLANE_HA_TOKEN": "t", "HOMEPLANE_HA_TOKEN_FILE": write("ha2", "x"),
		"HOMEPLANE_ENROLLMENT_TOKEN_FILE": dir + "/missing",
	}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ha-token is set too") ||
		!strings.Contains(err.Error(), "enrollment-token-file: open") {
		t.Fatalf("bad secret files: %v", err)
	}
}
