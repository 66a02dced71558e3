package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// SigningKey is one Ed25519 access-token key, named by its kid.
type SigningKey struct {
	ID        string
	Private   ed25519.PrivateKey
	CreatedAt time.Time
}

// NewSigningKey generates a key with a random kid.
func NewSigningKey(now time.Time) (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return SigningKey{}, fmt.Errorf("generate key id: %w", err)
	}
	return SigningKey{ID: base64.RawURLEncoding.EncodeToString(id), Private: priv, CreatedAt: now}, nil
}

// Keys is the set of access-token keys: the newest signs, all verify.
// It is immutable once built.
type Keys struct {
	signer SigningKey
	verify map[string]ed25519.PublicKey
}

// maxKidLen bounds the kid header accepted from a token.
const maxKidLen = 64

// NewKeys builds a key set from stored keys.
func NewKeys(keys ...SigningKey) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no signing keys")
	}
	k := &Keys{verify: make(map[string]ed25519.PublicKey, len(keys))}
	for i, key := range keys {
		if key.ID == "" || len(key.ID) > maxKidLen || len(key.Private) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("auth: signing key %d is malformed", i)
		}
		if _, dup := k.verify[key.ID]; dup {
			return nil, fmt.Errorf("auth: duplicate signing key id %q", key.ID)
		}
		k.verify[key.ID] = key.Private.Public().(ed25519.PublicKey)
		if i == 0 || key.CreatedAt.After(k.signer.CreatedAt) {
			k.signer = key
		}
	}
	return k, nil
}

// LoadKeys reads the stored keys, creating the first one when there is none,
// so that restarts and replicas share them.
func LoadKeys(ctx context.Context, store KeyStore, now time.Time) (*Keys, error) {
	candidate, err := NewSigningKey(now)
	if err != nil {
		return nil, err
	}
	keys, err := store.EnsureSigningKey(ctx, candidate)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return NewKeys(keys...)
}

// SignerID returns the kid that new tokens carry.
func (k *Keys) SignerID() string { return k.signer.ID }
