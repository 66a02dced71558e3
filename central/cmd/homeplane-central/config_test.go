package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigPrecedence(t *testing.T) {
	cfg, err := loadConfig(
		[]string{"--config", "testdata/good.json", "--http-addr", "127.0.0.1:7070"},
		env(map[string]string{"HOMEPLANE_COMMAND_TIMEOUT": "4s", "HOMEPLANE_HTTP_ADDR": "127.0.0.1:6060"}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:7070" {
		t.Errorf("flag should win over env and file: http_addr = %s", cfg.HTTPAddr)
	}
	if time.Duration(cfg.CommandTimeout) != 4*time.Second {
		t.Errorf("env should win over file: command_timeout = %s", cfg.CommandTimeout)
	}
	if time.Duration(cfg.AccessTTL) != 10*time.Minute {
		t.Errorf("file should win over default: access_token_ttl = %s", cfg.AccessTTL)
	}
	if cfg.MQTTAddr != "127.0.0.1:1883" {
		t.Errorf("default lost: mqtt_addr = %s", cfg.MQTTAddr)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig([]string{"--config", "testdata/bad.json"}, env(nil), io.Discard)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"http-addr", "database-url", "access-token-ttl", "log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestLoadConfigRejects(t *testing.T) {
	cases := map[string][]string{
		"unknown field":    {"--config", "testdata/unknown-field.json", "--database-url", "postgres://x/y"},
		"missing file":     {"--config", "testdata/none.json"},
		"no database":      {},
		"stray argument":   {"--database-url", "postgres://x/y", "extra"},
		"bad env duration": nil,
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			e := map[string]string{}
			if args == nil {
				args = []string{"--database-url", "postgres://x/y"}
				e["HOMEPLANE_ACCESS_TOKEN_TTL"] = "soon"
			}
			if _, err := loadConfig(args, env(e), io.Discard); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestConfigLogMasksPassword(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", "testdata/good.json"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "config", cfg)
	if strings.Contains(b.String(), "secret") {
		t.Fatalf("password leaked into log: %s", b.String())
	}
	if !strings.Contains(b.String(), "db.internal") {
		t.Fatalf("database host missing from log: %s", b.String())
	}
}
