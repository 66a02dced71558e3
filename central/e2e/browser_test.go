package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// browser is a person's browser on central's web pages: it keeps cookies,
// does not follow redirects (the test reads them) and fills in the CSRF
// token of the form it was last shown.
type browser struct {
	c    *central
	http *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newBrowser(t testing.TB, c *central) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{c: c, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is one answer as the browser got it.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(t testing.TB, req *http.Request) page {
	t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// get loads path.
func (b *browser) get(t testing.TB, path string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// post submits a form to path with the CSRF token of the last page shown
// unless values carry their own.
func (b *browser) post(t testing.TB, path string, values url.Values) page {
	t.Helper()
	if _, ok := values["csrf"]; !ok && b.csrf != "" {
		values.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.c.url+path, strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// login logs in through the login form of the part of the site at
// scope ("/admin" or "/pair") and returns the answer to the form.
func (b *browser) login(t testing.TB, scope, email string) page {
	t.Helper()
	b.get(t, scope+"/login")
	return b.post(t, scope+"/login", url.Values{"email": {email}, "password": {"correct horse battery"}})
}

// cookie is the browser's cookie name for path, or "".
func (b *browser) cookie(t testing.TB, path, name string) string {
	t.Helper()
	u, err := url.Parse(b.c.url + path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie puts a cookie in the browser for path, as an attacker who
// copied one would.
func (b *browser) setCookie(t testing.TB, path, name, value string) {
	t.Helper()
	u, err := url.Parse(b.c.url + path)
	if err != nil {
		t.Fatal(err)
	}
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: path}})
}
