package postgres_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

func TestOpenPoolSize(t *testing.T) {
	_, base := pgtest.NewURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	withSize := u.String()
	cases := []struct {
		name string
		dsn  string
		opts postgres.Options
		want int32
	}{
		{"default", base, postgres.Options{}, postgres.DefaultMaxConns},
		{"from the URL", withSize, postgres.Options{}, 3},
		{"from the options", withSize, postgres.Options{MaxConns: 2}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool, err := postgres.Open(context.Background(), c.dsn, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if got := pool.Config().MaxConns; got != c.want {
				t.Fatalf("MaxConns = %d, want %d", got, c.want)
			}
		})
	}
}
