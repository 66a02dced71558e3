package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/auth"
)

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	key, err := auth.NewSigningKey(now)
	if err != nil {
		f.Fatal(err)
	}
	keys, err := auth.NewKeys(key)
	if err != nil {
		f.Fatal(err)
	}
	svc := auth.NewService(activeSessions{}, keys, auth.Options{Now: func() time.Time { return now }})
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := svc.Verify(context.Background(), token)
		if err == nil {
			t.Fatalf("arbitrary token %q verified as %+v", token, c)
		}
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("error %v is not ErrInvalidToken", err)
		}
	})
}
