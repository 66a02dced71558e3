// Package idempotency makes a request safe to retry: a caller that repeats a
// request with the same key, on any replica of central, gets the answer of
// the first one, and the home carries the command out once
// (docs/adr/0025-idempotency-keys-timer-lease-ingestion.md).
//
// A key is claimed in a Store shared by every replica before the work runs,
// and its answer stored after. A retry while the first call still runs waits
// for it; when the claim's lease lapses (its replica died) a retry takes the
// work over. The command sent to the home carries an id derived from the key
// (CommandID), so the agent's own at-most-once ledger answers a command that
// both the first call and the takeover sent.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Errors a Do call returns besides the work's own.
var (
	// ErrInvalidKey means the key is empty, too long or not printable ASCII.
	ErrInvalidKey = errors.New("idempotency key must be 1 to 128 printable ASCII characters")
	// ErrMismatch means the key was first used with a different request.
	ErrMismatch = errors.New("idempotency key was already used with a different request")
	// ErrInProgress means the first call with the key is still running;
	// retrying later is safe.
	ErrInProgress = errors.New("a request with this idempotency key is still in progress; retry later")
	// ErrTooMany means the caller holds too many live keys.
	ErrTooMany = errors.New("too many idempotency keys in use; retry later or without a key")
)

// MaxKeyChars bounds a key.
const MaxKeyChars = 128

// MaxAnswerBytes bounds a stored answer; a larger one is not kept (the
// command id still makes a retry run at most once in the home).
const MaxAnswerBytes = 64 << 10

// CheckKey validates a key given by a client.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyChars {
		return ErrInvalidKey
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return ErrInvalidKey
		}
	}
	return nil
}

// Scope is who owns a key: keys of one caller are invisible to another.
// It is "user:<id>" or "device:<id>".
type Scope string

// UserScope and DeviceScope name a caller.
func UserScope(id string) Scope   { return Scope("user:" + id) }
func DeviceScope(id string) Scope { return Scope("device:" + id) }

// CommandID derives the id of the command sent to the home from the
// caller's key: the same on every replica, different for every caller.
func CommandID(scope Scope, key string) string {
	h := sha256.Sum256([]byte(string(scope) + "\x00" + key))
	return "idem-" + hex.EncodeToString(h[:16])
}

// Fingerprint identifies a request, so that a key reused for another one is
// refused: the procedure and the request's bytes without the key.
func Fingerprint(procedure string, request []byte) []byte {
	h := sha256.New()
	h.Write([]byte(procedure))
	h.Write([]byte{0})
	h.Write(request)
	return h.Sum(nil)
}

// State is what a Store knows about a key.
type State uint8

// States of a claim.
const (
	// Claimed: the caller now owns the key and runs the work.
	Claimed State = iota + 1
	// Done: the work finished; Claim returns its answer.
	Done
	// Running: another call owns the key and its lease has not lapsed.
	Running
	// Mismatch: the key belongs to a different request.
	Mismatch
)

// Claim asks for a key.
type Claim struct {
	Scope       Scope
	Key         string
	Fingerprint []byte
	// Lease is how long the claim holds before another call may take the
	// work over; TTL how long the key and its answer are kept.
	Lease, TTL time.Duration
	// MaxKeys bounds the live keys of one scope.
	MaxKeys int
}

// Store keeps keys for every replica. Implementations must make Claim
// atomic: of two concurrent claims of one free key exactly one is Claimed.
type Store interface {
	// Claim takes the key, or reports who has it and the stored answer.
	// A key whose TTL passed is free again; ErrTooMany when the scope holds
	// MaxKeys live keys.
	Claim(ctx context.Context, c Claim) (State, []byte, error)
	// Complete stores the answer of a claimed key.
	Complete(ctx context.Context, scope Scope, key string, answer []byte) error
	// Release frees a claimed key whose work failed, so that a retry runs
	// it again.
	Release(ctx context.Context, scope Scope, key string) error
	// Extend renews the lease of a claimed key still running.
	Extend(ctx context.Context, scope Scope, key string, lease time.Duration) error
}

// Keeper runs work once per key.
type Keeper struct {
	Store Store
	// TTL is how long a key is remembered; default 24h.
	TTL time.Duration
	// MaxKeys bounds the live keys per caller; default 10,000.
	MaxKeys int
	// Poll is how often a waiting retry looks again; default 100ms.
	Poll time.Duration
	// Lease is how long a claim holds without renewal; the running call
	// renews it every third of it, so a retry takes over this long after
	// the replica running the first call died. Default 10s.
	Lease time.Duration
}

func (k *Keeper) ttl() time.Duration   { return orDefault(k.TTL, 24*time.Hour) }
func (k *Keeper) poll() time.Duration  { return orDefault(k.Poll, 100*time.Millisecond) }
func (k *Keeper) lease() time.Duration { return orDefault(k.Lease, 10*time.Second) }
func (k *Keeper) maxKeys() int         { return int(orDefault(time.Duration(k.MaxKeys), 10000)) }

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Do runs work once for (scope, key) and returns its answer; a repeat gets
// the stored answer (replayed true) without running work. A repeat while
// the first runs waits until ctx is done, then returns ErrInProgress; one
// whose first call's replica died (its claim no longer renewed) runs the
// work itself. When work fails, the key is released
// and the error returned: a retry runs the work again (with the same
// command id, so the home still runs it at most once).
func (k *Keeper) Do(ctx context.Context, scope Scope, key string, fingerprint []byte,
	work func(ctx context.Context) ([]byte, error)) (answer []byte, replayed bool, err error) {
	if err := CheckKey(key); err != nil {
		return nil, false, err
	}
	c := Claim{Scope: scope, Key: key, Fingerprint: fingerprint, Lease: k.lease(), TTL: k.ttl(), MaxKeys: k.maxKeys()}
	tick := time.NewTicker(k.poll())
	defer tick.Stop()
	waited := false
	for {
		state, stored, err := k.Store.Claim(ctx, c)
		if err != nil {
			if waited && ctx.Err() != nil {
				return nil, false, ErrInProgress
			}
			return nil, false, err
		}
		switch state {
		case Done:
			return stored, true, nil
		case Mismatch:
			return nil, false, ErrMismatch
		case Claimed:
			return k.run(ctx, scope, key, work)
		}
		waited = true
		select {
		case <-ctx.Done():
			return nil, false, ErrInProgress
		case <-tick.C:
		}
	}
}

func (k *Keeper) run(ctx context.Context, scope Scope, key string, work func(ctx context.Context) ([]byte, error)) ([]byte, bool, error) {
	renewed := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(k.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.lease()/3)
				_ = k.Store.Extend(ectx, scope, key, k.lease()) // a missed renewal lets a retry take over, no worse
				cancel()
			}
		}
	}()
	answer, err := work(ctx)
	close(stop)
	<-renewed
	// The bookkeeping outlives a caller that hung up.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err != nil || len(answer) > MaxAnswerBytes {
		// Nothing to keep: a retry runs the work again. When the release
		// fails too, the claim lapses with its lease and a retry waits
		// until then.
		if rerr := k.Store.Release(sctx, scope, key); rerr != nil && err != nil {
			err = errors.Join(err, fmt.Errorf("release idempotency key: %w", rerr))
		}
		return answer, false, err
	}
	// When the answer cannot be stored it still goes out; a retry after
	// the lease runs the work again under the same command id, which the
	// home answers from its ledger.
	_ = k.Store.Complete(sctx, scope, key, answer)
	return answer, false, nil
}
