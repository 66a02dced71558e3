package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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

// Keys is the set of access-token keys: all verify, and the newest one
// whose CreatedAt has come signs. A key created in the future (by a
// rotation) verifies at once but signs only from then on, so every replica
// knows it before any token carries its kid. It is immutable once built.
type Keys struct {
	keys   []SigningKey // oldest first
	verify map[string]ed25519.PublicKey
}

// maxKidLen bounds the kid header accepted from a token.
const maxKidLen = 64

// NewKeys builds a key set from stored keys.
func NewKeys(keys ...SigningKey) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no signing keys")
	}
	k := &Keys{keys: slices.Clone(keys), verify: make(map[string]ed25519.PublicKey, len(keys))}
	for i, key := range keys {
		if key.ID == "" || len(key.ID) > maxKidLen || len(key.Private) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("auth: signing key %d is malformed", i)
		}
		if _, dup := k.verify[key.ID]; dup {
			return nil, fmt.Errorf("auth: duplicate signing key id %q", key.ID)
		}
		k.verify[key.ID] = key.Private.Public().(ed25519.PublicKey)
	}
	slices.SortStableFunc(k.keys, func(a, b SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return k, nil
}

// signerAt is the key that signs at now: the newest one already created,
// or the oldest when all lie in the future.
func (k *Keys) signerAt(now time.Time) SigningKey {
	signer := k.keys[0]
	for _, key := range k.keys[1:] {
		if !key.CreatedAt.After(now) {
			signer = key
		}
	}
	return signer
}

// IDs returns the kids of every key, oldest first.
func (k *Keys) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.ID
	}
	return ids
}

// KeyRotator is what a key rotation needs from storage.
type KeyRotator interface {
	AddSigningKey(ctx context.Context, k SigningKey) error
	// PruneSigningKeys deletes the keys a newer key replaced before
	// supersededBefore, and returns how many it deleted.
	PruneSigningKeys(ctx context.Context, supersededBefore time.Time) (int, error)
}

// RotateKeys adds a key that starts signing at now+activateIn (replicas
// reload keys more often than that, so all of them verify it first) and
// deletes the keys that stopped signing more than retain ago, which must be
// longer than any access token lives. Nobody is logged out.
func RotateKeys(ctx context.Context, store KeyRotator, now time.Time, activateIn, retain time.Duration) (SigningKey, int, error) {
	if activateIn < 0 || retain <= 0 {
		return SigningKey{}, 0, fmt.Errorf("%w: activation delay must be non-negative and retention positive", ErrInvalidInput)
	}
	key, err := NewSigningKey(now.Add(activateIn))
	if err != nil {
		return SigningKey{}, 0, err
	}
	if err := store.AddSigningKey(ctx, key); err != nil {
		return SigningKey{}, 0, fmt.Errorf("rotate keys: %w", err)
	}
	n, err := store.PruneSigningKeys(ctx, now.Add(-retain))
	if err != nil {
		return key, 0, fmt.Errorf("prune keys: %w", err)
	}
	return key, n, nil
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

// SignerID returns the kid that tokens made now carry.
func (k *Keys) SignerID() string { return k.signerAt(time.Now()).ID }
