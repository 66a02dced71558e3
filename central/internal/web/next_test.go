package web

import "testing"

// A post-login redirect stays in its part of the site: below its path or
// the path itself, never another host however a browser reads it.
func TestSafeNext(t *testing.T) {
	admin, pair := scope{path: Prefix}, scope{path: PairPath}
	for _, c := range []struct {
		sc         scope
		next, want string
	}{
		{admin, "/admin/users?q=a", "/admin/users?q=a"},
		{admin, "/admin", "/admin"},
		{admin, "/admin?x=1", "/admin?x=1"},
		{pair, "/pair", "/pair"},
		{pair, "/pair?code=AB", "/pair?code=AB"},
		{pair, "/pair/x", "/pair/x"},
		{pair, "/pair\t//evil.example", "/pair"},
		{pair, "/pairs", "/pair"},
		{pair, "/pair.evil.example", "/pair"},
		{pair, "/pair\\evil.example", "/pair"},
		{admin, "/admin/\x7f", "/admin/"},
		{admin, "/admin/\r\nLocation: x", "/admin/"},
		{admin, "//evil.example/admin/", "/admin/"},
		{admin, "https://evil.example/admin/", "/admin/"},
		{admin, "/adminx", "/admin/"},
		{admin, "", "/admin/"},
	} {
		if got := safeNext(c.sc, c.next); got != c.want {
			t.Errorf("safeNext(%s, %q) = %q, want %q", c.sc.path, c.next, got, c.want)
		}
	}
}
