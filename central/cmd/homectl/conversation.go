package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// say keeps each speaker's conversation in the config dir for a while, as a
// voice device does, so "turn it off" follows "turn on the kitchen lights"
// without flags.

const (
	conversationsFile = "conversations.json"
	// conversationTTL is how long a conversation is continued after its
	// last sentence; central forgets turns after as long.
	conversationTTL = 5 * time.Minute
	// maxConversations bounds the file: the stalest speakers go first.
	maxConversations = 64
)

type savedConversation struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// conversationStore keeps the conversation of each speaker (a device token
// or a user's home) of one config dir.
type conversationStore struct{ dir string }

func (s conversationStore) path() string { return filepath.Join(s.dir, conversationsFile) }

// speakerKey names who speaks without keeping a token in the file.
func speakerKey(deviceToken, homeID string) string {
	if deviceToken != "" {
		sum := sha256.Sum256([]byte(deviceToken))
		return "device:" + hex.EncodeToString(sum[:8])
	}
	return "home:" + homeID
}

func (s conversationStore) load() map[string]savedConversation {
	out := map[string]savedConversation{}
	f, err := os.Open(s.path())
	if err != nil {
		return out
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialsBytes))
	if err == nil {
		_ = json.Unmarshal(b, &out) // a damaged file only loses the conversations
	}
	return out
}

// current returns the speaker's conversation if its last sentence was
// within conversationTTL of now.
func (s conversationStore) current(key string, now time.Time) string {
	c, ok := s.load()[key]
	if !ok || now.Sub(c.At) > conversationTTL || now.Before(c.At.Add(-time.Minute)) {
		return ""
	}
	return c.ID
}

// remember stores the speaker's conversation as of now.
func (s conversationStore) remember(key, id string, now time.Time) error {
	all := s.load()
	for k, c := range all {
		if now.Sub(c.At) > conversationTTL {
			delete(all, k)
		}
	}
	all[key] = savedConversation{ID: id, At: now}
	for len(all) > maxConversations {
		stalest := ""
		for k, c := range all {
			if stalest == "" || c.At.Before(all[stalest].At) {
				stalest = k
			}
		}
		delete(all, stalest)
	}
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating config dir: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".conversations-*.json")
	if err != nil {
		return fmt.Errorf("saving conversation: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("saving conversation: %w", werr)
	}
	if err := os.Rename(tmp.Name(), s.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saving conversation: %w", err)
	}
	return nil
}
