// Package mosquittotest runs Debian's Mosquitto with the Homeplane plugin
// (deploy/mosquitto) for tests of the external broker mode. A test without
// Mosquitto or the plugin's build dependencies skips, and fails instead under
// HOMEPLANE_REQUIRE_SERVICES=1.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/protocol/polltest"
)

// Options configures a broker.
type Options struct {
	// AuthURL is central's contract, http://host:port/mqtt/v1/authn.
	AuthURL string
	// TokenFile holds the bearer token the plugin presents.
	TokenFile string
	// Addr is the listener, 127.0.0.1:port; default a free port.
	Addr string
}

// Broker is a running Mosquitto.
type Broker struct {
	Addr string // host:port
	URL  string // tcp://host:port

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

// Start runs Mosquitto with a freshly built plugin until the test ends; its
// output is logged when the test fails.
func Start(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	bin, plugin := need(tb)
	if opts.Addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		opts.Addr = l.Addr().String()
		l.Close()
	}
	_, port, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		tb.Fatal(err)
	}
	// Run as root, mosquitto would switch to its own user, which cannot
	// read the test's files: it stays who the test is.
	me, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(tb.TempDir(), "mosquitto.conf")
	// The limits of deploy/mosquitto/mosquitto.conf.
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`per_listener_settings false
user %s
listener %s 127.0.0.1
allow_anonymous false
persistence false
max_packet_size 1048576
max_inflight_messages 64
max_queued_messages 100000
max_keepalive 300
plugin %s
plugin_opt_url %s
plugin_opt_token_file %s
plugin_opt_timeout_ms 2000
plugin_opt_cache_seconds 5
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
`, me.Username, port, plugin, opts.AuthURL, opts.TokenFile)), 0o600); err != nil {
		tb.Fatal(err)
	}
	b := &Broker{Addr: opts.Addr, URL: "tcp://" + opts.Addr, done: make(chan struct{})}
	b.cmd = exec.Command(bin, "-c", conf)
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		tb.Fatalf("start mosquitto: %v", err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	tb.Cleanup(func() {
		b.stop()
		if tb.Failed() {
			tb.Logf("---- mosquitto output ----\n%s", b.Output())
		}
	})
	polltest.Until(tb, 10*time.Second, "mosquitto listening", func() bool {
		c, err := net.Dial("tcp", opts.Addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return b
}

// Write keeps Mosquitto's output, up to 4 MiB.
func (b *Broker) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out.Len() < 4<<20 {
		b.out.Write(p)
	}
	return len(p), nil
}

// Output is what Mosquitto logged so far.
func (b *Broker) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func (b *Broker) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

// need returns Debian's mosquitto and the plugin built for this test, or
// skips (fails under HOMEPLANE_REQUIRE_SERVICES=1) when either cannot be had.
func need(tb testing.TB) (bin, plugin string) {
	tb.Helper()
	missing := func(why string) {
		msg := why + " (apt-get install mosquitto mosquitto-dev libmosquitto-dev libcjson-dev libcurl4-openssl-dev)"
		if os.Getenv(pgtest.RequireVar) == "1" {
			tb.Fatal(msg)
		}
		tb.Skip("external broker mode: " + msg)
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
			missing("mosquitto not installed")
		}
		bin = "/usr/sbin/mosquitto"
	}
	root, err := repoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	plugin = filepath.Join(tb.TempDir(), "homeplane_auth.so")
	out, err := exec.Command("make", "--no-print-directory", "-C", root, "mosquitto-plugin", "MOSQUITTO_PLUGIN_OUT="+plugin).CombinedOutput()
	if err != nil {
		missing(fmt.Sprintf("cannot build the Mosquitto plugin: %v\n%s", err, out))
	}
	return bin, plugin
}

// repoRoot is the directory of go.work above the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
	}
}
