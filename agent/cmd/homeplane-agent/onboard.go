package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
)

// Files in the data directory, mode 0600: the long-lived token the agent
// minted when it onboarded a fresh managed instance, and the owner account
// it created, so a person can log in to Home Assistant on the home server.
// Neither ever leaves the home server.
const (
	haTokenFile = "homeassistant-token"
	haOwnerFile = "homeassistant-owner.json"
)

// haTokenLifespanDays is the minted token's life (Home Assistant counts days).
const haTokenLifespanDays = 3650

// loadHAToken returns the token a previous onboarding stored, or "".
func loadHAToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, haTokenFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("home assistant token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writePrivate writes b to dir/name with mode 0600, creating dir (0700).
func writePrivate(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WritePrivate(filepath.Join(dir, name), b)
}

// onboardHA waits for the managed instance to answer, onboards it with a
// generated owner and gives ha the long-lived token. An instance onboarded
// by someone else is left alone: the agent then needs --ha-token.
func onboardHA(ctx context.Context, ha *homeassistant.Client, dataDir string, log *slog.Logger) (string, error) {
	wait := time.Second
	for {
		done, err := ha.Onboarded(ctx)
		if err == nil && done {
			return "", errors.New("home assistant is onboarded already and no token is known: set --ha-token")
		}
		if err == nil {
			break
		}
		log.Debug("home assistant not answering yet; onboarding waits", "error", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
	owner := homeassistant.Owner{Name: "Owner", Username: "owner", Password: rand.Text(), Language: "en"}
	// The owner's credentials are kept before the owner exists: a crash in
	// between must not leave an instance nobody can log in to.
	b, _ := json.MarshalIndent(map[string]string{"username": owner.Username, "password": owner.Password}, "", "  ")
	if err := writePrivate(dataDir, haOwnerFile, append(b, '\n')); err != nil {
		return "", fmt.Errorf("home assistant owner: %w", err)
	}
	token, err := ha.Onboard(ctx, owner, "homeplane-agent", haTokenLifespanDays)
	if err != nil {
		return "", err
	}
	if err := writePrivate(dataDir, haTokenFile, []byte(token+"\n")); err != nil {
		return "", fmt.Errorf("home assistant token: %w", err)
	}
	ha.SetToken(token)
	log.Info("home assistant onboarded", "owner", owner.Username, "owner_file", filepath.Join(dataDir, haOwnerFile))
	return token, nil
}
