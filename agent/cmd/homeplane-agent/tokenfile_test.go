package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(tb testing.TB, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestTokenFiles covers the tokens read from files, which keeps them out of
// the command line that ps shows every local user.
func TestTokenFiles(t *testing.T) {
	ha, enroll := writeFile(t, "ha-secret\n"), writeFile(t, "  enroll-secret \n")
	cfg, err := parseConfig([]string{"--ha-token-file", ha}, env(map[string]string{"HOMEPLANE_ENROLLMENT_TOKEN_FILE": enroll}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HAToken != "ha-secret" || cfg.EnrollmentToken != "enroll-secret" {
		t.Fatalf("tokens = %q, %q", cfg.HAToken, cfg.EnrollmentToken)
	}

	cases := map[string]struct {
		args []string
		want string
	}{
		"both token and file": {[]string{"--ha-token", "x", "--ha-token-file", ha}, "ha-token-file: ha-token is set too"},
		"missing file":        {[]string{"--ha-token-file", filepath.Join(t.TempDir(), "none")}, "ha-token-file:"},
		"empty file":          {[]string{"--ha-token-file", writeFile(t, " \n")}, "is empty"},
		"huge file":           {[]string{"--ha-token-file", writeFile(t, strings.Repeat("x", maxSecretFile+1))}, "larger than"},
		"enrollment both":     {[]string{"--ha-token", "x", "--enrollment-token", "y", "--enrollment-token-file", enroll}, "enrollment-token-file:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig(c.args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestAllowLists(t *testing.T) {
	cfg, err := parseConfig([]string{"--ha-token", "t", "--mode", "managed", "--image", "registry.example/ha:2026.1",
		"--allowed-images", "mirror.example/ha/*, ", "--allowed-domains", "light, switch"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mirror.example/ha/*", "ghcr.io/home-assistant/home-assistant", "registry.example/ha:2026.1"} {
		if !slices.Contains(cfg.AllowedImages, want) {
			t.Errorf("allowed images %v lack %s", cfg.AllowedImages, want)
		}
	}
	if !slices.Equal(cfg.AllowedDomains, []string{"light", "switch"}) {
		t.Errorf("allowed domains = %v", cfg.AllowedDomains)
	}
	_, err = parseConfig([]string{"--ha-token", "t", "--allowed-images", "Bad Ref", "--allowed-domains", "light,Lock"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "allowed-images:") || !strings.Contains(err.Error(), "allowed-domains:") {
		t.Fatalf("err = %v, want both lists refused", err)
	}
}
