package auth

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHashPassword is the cost of one login or registration: one
// argon2id hash with the production parameters (19 MiB, 2 passes, 1 lane).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := hashPassword("correct horse battery"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckImportedHash is one login of an imported passlib user
// (29000 rounds of PBKDF2-SHA256), before the rehash.
func BenchmarkCheckImportedHash(b *testing.B) {
	const h = "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"
	for b.Loop() {
		if ok, err := checkPBKDF2(h, "toomanysecrets"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// currentSessions answers every session check as current.
type currentSessions struct{ Store }

func (currentSessions) SessionState(context.Context, string) (SessionState, error) {
	return SessionState{}, nil
}

// BenchmarkVerify is the per-request cost of an access token: signature,
// claims, and the session check from the cache.
func BenchmarkVerify(b *testing.B) {
	key, err := NewSigningKey(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	keys, err := NewKeys(key)
	if err != nil {
		b.Fatal(err)
	}
	s := NewService(currentSessions{}, keys, Options{SessionCheckTTL: time.Hour})
	tok, _, err := s.signAccess(User{ID: "00000000-0000-4000-8000-000000000001", Role: RoleUser}, "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
