package main

import (
	"context"
	"io"
	"log/slog"
	"os"
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

func TestLoadConfigSecretsFromFiles(t *testing.T) {
	getenv := env(map[string]string{
		"HOMEPLANE_DATABASE_URL_FILE": "testdata/database_url.secret",
		"HOMEPLANE_LLM_API_KEY_FILE":  "testdata/llm_api_key.secret",
	})
	var got config
	commands["config-probe"] = subcommand{run: func(_ context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
		var err error
		got, err = loadConfig(args, getenv, stderr)
		return err
	}}
	t.Cleanup(func() { delete(commands, "config-probe") })
	if err := run(context.Background(), []string{"config-probe"}, getenv, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got.DatabaseURL != "postgres://homeplane:from-a-file@db:5432/homeplane?sslmode=disable" || got.LLMAPIKey != "key-from-a-file" {
		t.Fatalf("secrets from files: database %q, llm key %q", got.DatabaseURL, got.LLMAPIKey)
	}

	err := run(context.Background(), []string{"migrate"}, env(map[string]string{
		"HOMEPLANE_DATABASE_URL":      "postgres://x/y",
		"HOMEPLANE_DATABASE_URL_FILE": "testdata/database_url.secret",
		"HOMEPLANE_LLM_API_KEY_FILE":  "testdata/empty.secret",
	}), io.Discard)
	for _, want := range []string{"HOMEPLANE_DATABASE_URL and HOMEPLANE_DATABASE_URL_FILE are both set", "HOMEPLANE_LLM_API_KEY_FILE: testdata/empty.secret is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "from-a-file") {
		t.Errorf("error shows the secret: %v", err)
	}
}

// TestLLMProfileConfiguresCentral reads the compose llm profile's env file:
// compose passes each of its HOMEPLANE_ variables on to central, and
// central takes them as its llm backend (no model can run here, so this is
// what is checked of the profile).
func TestLLMProfileConfiguresCentral(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/compose/llm.env")
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile("../../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"HOMEPLANE_DATABASE_URL": "postgres://x@127.0.0.1/x"}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") || !strings.HasPrefix(k, "HOMEPLANE_") {
			continue
		}
		vars[k] = v
		if !strings.Contains(string(compose), k+": ${"+k) {
			t.Errorf("compose.yaml does not pass %s on to central", k)
		}
	}
	cfg, err := loadConfig(nil, env(vars), io.Discard)
	if err != nil {
		t.Fatalf("central rejects the llm profile: %v", err)
	}
	if cfg.LLMBackend != "ollama" || cfg.LLMURL != vars["HOMEPLANE_LLM_URL"] || cfg.LLMModel == "" || !strings.Contains(cfg.LLMURL, "ollama:11434") {
		t.Fatalf("llm backend %q at %q, model %q: want ollama at the ollama service", cfg.LLMBackend, cfg.LLMURL, cfg.LLMModel)
	}
}
