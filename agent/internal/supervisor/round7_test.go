package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// hostileEngine speaks enough of the Docker Engine API for the supervisor
// and answers as an override says: a broken or compromised engine, for the
// seventh attack round only. Without overrides it is a well-behaved engine
// with one running container owned by agent "a1".
type hostileEngine struct {
	t   testing.TB
	mu  sync.Mutex
	ids map[string]int // calls per operation
	// over answers an operation in place of the default; returning false
	// falls through to the default answer.
	over  map[string]func(w http.ResponseWriter, r *http.Request) bool
	haURL string // where the fake Home Assistant answers
	id    string
	done  chan struct{} // closed when the test ends, to end hung answers
}

const engineAgent = "a1"

func fakeID(n int) string { return fmt.Sprintf("%064x", n) }

func newHostileEngine(t testing.TB) (*hostileEngine, *client.Client) {
	e := &hostileEngine{t: t, ids: map[string]int{}, over: map[string]func(http.ResponseWriter, *http.Request) bool{}, id: fakeID(1)}
	ha := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }))
	t.Cleanup(ha.Close)
	e.haURL = ha.URL
	e.done = make(chan struct{})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(e.done) })
	c, err := EngineClient(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.51"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return e, c
}

func (e *hostileEngine) set(op string, fn func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	e.over[op] = fn
	e.mu.Unlock()
}

func (e *hostileEngine) calls(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ids[op]
}

// operation names an Engine API request.
func operation(r *http.Request) string {
	p := r.URL.Path
	if i := strings.Index(p[1:], "/"); strings.HasPrefix(p, "/v1.") && i > 0 {
		p = p[i+1:]
	}
	switch {
	case p == "/events":
		return "events"
	case p == "/containers/json":
		return "list"
	case p == "/containers/create":
		return "create"
	case strings.HasPrefix(p, "/images/create"):
		return "pull"
	case strings.HasPrefix(p, "/images/"):
		return "imageInspect"
	case p == "/volumes/create":
		return "volumeCreate"
	case strings.HasPrefix(p, "/volumes/"):
		return "volumeRemove"
	case strings.HasSuffix(p, "/json"):
		return "inspect"
	case strings.HasSuffix(p, "/stats"):
		return "stats"
	case strings.HasSuffix(p, "/archive"):
		return "archive" + r.Method
	case strings.HasPrefix(p, "/containers/") && r.Method == http.MethodDelete:
		return "remove"
	case strings.HasPrefix(p, "/containers/"):
		return p[strings.LastIndex(p, "/")+1:] // start, stop, restart
	}
	return p
}

func (e *hostileEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	e.mu.Lock()
	e.ids[op]++
	fn := e.over[op]
	e.mu.Unlock()
	if fn != nil && fn(w, r) {
		return
	}
	u, _ := url.Parse(e.haURL)
	w.Header().Set("Content-Type", "application/json")
	switch op {
	case "inspect":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"Id": e.id, "Name": "/homeplane-ha",
			"State":           map[string]any{"Status": "running", "Running": true, "StartedAt": time.Now().UTC().Format(time.RFC3339Nano)},
			"Config":          map[string]any{"Image": "ghcr.io/home-assistant/home-assistant:2026.1.0", "Labels": map[string]string{LabelManagedBy: engineAgent, LabelRole: "home-assistant"}},
			"HostConfig":      map[string]any{"NetworkMode": "bridge"},
			"NetworkSettings": map[string]any{"Ports": map[string]any{"8123/tcp": []map[string]string{{"HostIp": "127.0.0.1", "HostPort": u.Port()}}}},
		})
	case "create":
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"Id":"`+e.id+`","Warnings":[]}`)
	case "volumeCreate":
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"Name":"v"}`)
	case "imageInspect":
		_, _ = io.WriteString(w, `{"Id":"sha256:`+fakeID(9)+`"}`)
	case "stats":
		_, _ = io.WriteString(w, `{"cpu_stats":{"cpu_usage":{"total_usage":2000},"system_cpu_usage":20000,"online_cpus":2},"memory_stats":{"usage":100,"limit":1000}}`)
	case "list":
		_, _ = io.WriteString(w, `[]`)
	case "events":
		w.WriteHeader(http.StatusOK)
		e.hang(w, r)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// pubLog keeps what the supervisor publishes.
type pubLog struct {
	mu  sync.Mutex
	evs []*homeplanev1.InstanceEvent
	tel []*homeplanev1.Telemetry
}

func (p *pubLog) Publish(_ context.Context, _ topic.Kind, m proto.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch v := m.(type) {
	case *homeplanev1.InstanceEvent:
		p.evs = append(p.evs, v)
	case *homeplanev1.Telemetry:
		p.tel = append(p.tel, v)
	}
	return nil
}

func (p *pubLog) count(kind homeplanev1.InstanceEventKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.evs {
		if e.GetKind() == vocab.Event(kind).GetKind() {
			n++
		}
	}
	return n
}

// provisioned returns a supervisor that owns the engine's container.
func provisioned(t testing.TB, c *client.Client, pub Publisher, opts Options) *Supervisor {
	t.Helper()
	opts.AllowedImages = []string{"ghcr.io/home-assistant/home-assistant"}
	s, err := New(c, pub, engineAgent, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.update(func(p *persisted) {
		p.Spec = Spec{Image: "ghcr.io/home-assistant/home-assistant:2026.1.0"}.withDefaults()
		p.ContainerID, p.Provisioned, p.WantRunning = fakeID(1), true, true
	})
	return s
}

// allocated runs fn and returns the bytes it allocated.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// hugeJSON writes a JSON object with one string of n bytes under key.
func hugeJSON(w http.ResponseWriter, prefix string, n int) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, prefix+`"`)
	chunk := strings.Repeat("a", 64<<10)
	for i := 0; i < n/len(chunk); i++ {
		if _, err := io.WriteString(w, chunk); err != nil {
			return
		}
	}
	_, _ = io.WriteString(w, `"}`)
}

// hang answers nothing until the client gives up or the test ends.
func (e *hostileEngine) hang(_ http.ResponseWriter, r *http.Request) bool {
	select {
	case <-r.Context().Done():
	case <-e.done:
	}
	return true
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func within(t *testing.T, d time.Duration, fn func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d + 5*time.Second):
		t.Fatalf("still running after %v", d+5*time.Second)
	}
	return time.Since(start)
}

// TestAttacksRound7Engine is the seventh attack round's part on the
// supervisor (docs/benchmarks.md, "Attacks, round 7"): a broken or hostile
// Docker Engine. Whatever it answers, the supervisor must give a clear
// error in bounded time and memory, and never stop, remove or restart a
// Home Assistant that answers on the word of the engine alone.
func TestAttacksRound7Engine(t *testing.T) {
	fast := Options{EngineTimeout: time.Second, ProbeInterval: 50 * time.Millisecond, SampleInterval: -1,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, StartPeriod: time.Nanosecond,
		PullStallTimeout: 500 * time.Millisecond, PullDeadline: 2 * time.Second, UpgradeDeadline: time.Second}

	t.Run("inspect of 100 MB", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("inspect", func(w http.ResponseWriter, _ *http.Request) bool {
			hugeJSON(w, `{"Id":"x","Name":`, 100<<20)
			return true
		})
		s := provisioned(t, c, nil, fast)
		var err error
		n := allocated(func() { _, err = s.find(context.Background()) })
		if err == nil || n > 64<<20 {
			t.Fatalf("find = %v after %d MB allocated; want a clear error within 64 MB", err, n>>20)
		}
	})
	t.Run("container list of 100 MB", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("list", func(w http.ResponseWriter, _ *http.Request) bool { hugeJSON(w, `[{"Id":`, 100<<20); return true })
		s := provisioned(t, c, nil, fast)
		var err error
		n := allocated(func() { _, err = s.Sweep(context.Background()) })
		if err == nil || n > 64<<20 || e.calls("remove") != 0 {
			t.Fatalf("Sweep = %v after %d MB, %d removals; want a clear error within 64 MB, none removed", err, n>>20, e.calls("remove"))
		}
	})
	t.Run("inspect never answers the watchdog", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("inspect", e.hang)
		s := provisioned(t, c, nil, fast)
		within(t, time.Second, func() { s.probeOnce(context.Background()) })
	})
	t.Run("stats that never end", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("stats", func(w http.ResponseWriter, r *http.Request) bool {
			_, _ = io.WriteString(w, `{"cpu_stats":`)
			w.(http.Flusher).Flush()
			for r.Context().Err() == nil && !closed(e.done) {
				_, _ = io.WriteString(w, " ")
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
			return true
		})
		s := provisioned(t, c, nil, fast)
		var err error
		within(t, time.Second, func() { _, err = s.Sample(context.Background()) })
		if err == nil {
			t.Fatal("Sample of an endless answer: no error")
		}
	})
	for name, body := range map[string]string{
		"stats with NaN":         `{"cpu_stats":{"cpu_usage":{"total_usage":NaN}}}`,
		"stats negative":         `{"memory_stats":{"usage":-5}}`,
		"stats overflowing":      `{"memory_stats":{"usage":1e400}}`,
		"stats past 4 MiB":       `{"memory_stats":{"stats":{"a":1` + strings.Repeat(`,"k":1`, 1<<20) + `}}}`,
		"stats not an object":    `[1,2,3]`,
		"stats deeply nested":    strings.Repeat(`{"networks":`, 100000),
		"stats as an error text": `oops`,
	} {
		t.Run(name, func(t *testing.T) {
			e, c := newHostileEngine(t)
			e.set("stats", func(w http.ResponseWriter, _ *http.Request) bool { _, _ = io.WriteString(w, body); return true })
			s := provisioned(t, c, nil, fast)
			if tel, err := s.Sample(context.Background()); err == nil {
				t.Fatalf("Sample = %v; want a clear error", tel)
			}
		})
	}
	t.Run("stats with 4 billion CPUs and a wrapped counter", func(t *testing.T) {
		e, c := newHostileEngine(t)
		n := 0
		e.set("stats", func(w http.ResponseWriter, _ *http.Request) bool {
			n++
			_, _ = fmt.Fprintf(w, `{"cpu_stats":{"cpu_usage":{"total_usage":%d},"system_cpu_usage":%d,"online_cpus":4294967295},"memory_stats":{"usage":18446744073709551615,"stats":{"inactive_file":1}}}`, 1000*n*n, 1000*n)
			return true
		})
		s := provisioned(t, c, nil, fast)
		for i := 0; i < 3; i++ {
			tel, err := s.Sample(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if p := tel.GetCpuPercent(); p < 0 || p > 100*maxCPUs {
				t.Fatalf("cpu percent %v; want within 0..%d", p, 100*maxCPUs)
			}
		}
	})
	t.Run("a wrong container id", func(t *testing.T) {
		for _, id := range []string{"", "../../containers/other", strings.Repeat("f", 10000), fakeID(2) + "\n"} {
			e, c := newHostileEngine(t)
			e.id = id
			s := provisioned(t, c, nil, fast)
			if err := s.Start(context.Background()); err == nil {
				t.Errorf("id %.20q: Start = nil; want a clear error", id)
			}
			if got := s.st.ContainerID; got != fakeID(1) {
				t.Errorf("id %.20q: the saved container id became %.20q", id, got)
			}
			if e.calls("start") != 0 {
				t.Errorf("id %.20q: started", id)
			}
		}
	})
	t.Run("another agent's container under our name", func(t *testing.T) {
		e, c := newHostileEngine(t)
		s, err := New(c, nil, "a2", t.TempDir(), fast)
		if err != nil {
			t.Fatal(err)
		}
		s.update(func(p *persisted) { p.Provisioned, p.WantRunning, p.ContainerID = true, true, fakeID(1) })
		if err := s.Stop(context.Background()); err == nil || e.calls("stop") != 0 {
			t.Fatalf("Stop = %v with %d stops; want refused, nothing stopped", err, e.calls("stop"))
		}
	})
	t.Run("a flood of lying die events", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("events", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			for i := 0; r.Context().Err() == nil && i < 20000; i++ {
				_, _ = fmt.Fprintf(w, `{"Type":"container","Action":"die","Actor":{"ID":%q,"Attributes":{"exitCode":"137"}},"time":%d,"timeNano":%d}`+"\n", fakeID(1), time.Now().Unix(), time.Now().UnixNano())
			}
			return e.hang(w, r)
		})
		pub := &pubLog{}
		s := provisioned(t, c, pub, fast)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = s.Run(ctx)
		stops, died := e.calls("stop")+e.calls("remove"), pub.count(homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_DIED)
		if stops != 0 || s.st.CrashLoop || died > 10 {
			t.Fatalf("%d stops or removals, crash loop %v, %d died events; Home Assistant answers all along", stops, s.st.CrashLoop, died)
		}
	})
	t.Run("a flood of other containers' events and garbage", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("events", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 10000; i++ {
				_, _ = fmt.Fprintf(w, `{"Type":"container","Action":"die","Actor":{"ID":%q}}`+"\n", fakeID(i+2))
			}
			_, _ = io.WriteString(w, "\x00\xff garbage {{{")
			return true
		})
		pub := &pubLog{}
		s := provisioned(t, c, pub, fast)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Run(ctx)
		if n := e.calls("stop") + e.calls("start"); n != 0 || e.calls("events") < 2 {
			t.Fatalf("%d stops/starts, %d event connections; want none and a reconnect", n, e.calls("events"))
		}
	})
	t.Run("500 on every call of an upgrade", func(t *testing.T) {
		e, c := newHostileEngine(t)
		s := provisioned(t, c, nil, fast)
		for _, op := range []string{"imageInspect", "pull", "stop", "create", "remove", "volumeCreate", "volumeRemove", "archiveGET", "archivePUT"} {
			e.set(op, func(w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"message":"engine broken"}`)
				return true
			})
		}
		err := s.Upgrade(context.Background(), "ghcr.io/home-assistant/home-assistant:2026.2.0")
		if err == nil || !strings.Contains(err.Error(), "engine broken") || e.calls("stop")+e.calls("remove") != 0 {
			t.Fatalf("Upgrade = %v with %d stops and %d removals", err, e.calls("stop"), e.calls("remove"))
		}
	})
	pulls := map[string]func(e *hostileEngine, w http.ResponseWriter, r *http.Request) bool{
		"a pull that never ends": func(e *hostileEngine, w http.ResponseWriter, r *http.Request) bool {
			for i := 0; r.Context().Err() == nil && !closed(e.done); i++ {
				_, _ = fmt.Fprintf(w, `{"status":"Downloading","id":"l1","progressDetail":{"current":%d,"total":1000000000000}}`+"\r\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
			return true
		},
		"a pull message of 100 MB": func(_ *hostileEngine, w http.ResponseWriter, _ *http.Request) bool {
			hugeJSON(w, `{"status":"Downloading","id":`, 100<<20)
			return true
		},
		"a pull of a million layers": func(_ *hostileEngine, w http.ResponseWriter, _ *http.Request) bool {
			for i := 0; i < 1000000; i++ {
				if _, err := fmt.Fprintf(w, `{"status":"Downloading","id":"%d","progressDetail":{"current":1,"total":2}}`+"\r\n", i); err != nil {
					break
				}
			}
			return true
		},
	}
	for name, fn := range pulls {
		t.Run(name, func(t *testing.T) {
			e, c := newHostileEngine(t)
			e.set("imageInspect", func(w http.ResponseWriter, _ *http.Request) bool {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"message":"No such image"}`)
				return true
			})
			e.set("pull", func(w http.ResponseWriter, r *http.Request) bool { return fn(e, w, r) })
			s := provisioned(t, c, nil, fast)
			var err error
			n := allocated(func() {
				within(t, fast.PullDeadline, func() {
					err = s.Upgrade(context.Background(), "ghcr.io/home-assistant/home-assistant:2026.2.0")
				})
			})
			if err == nil || n > 128<<20 || e.calls("stop")+e.calls("remove") != 0 {
				t.Fatalf("Upgrade = %v, %d MB allocated, %d stops and removals; want a clear error within 128 MB, Home Assistant untouched", err, n>>20, e.calls("stop")+e.calls("remove"))
			}
		})
	}
	t.Run("pull progress past its total", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("imageInspect", func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"No such image"}`)
			return true
		})
		e.set("pull", func(w http.ResponseWriter, _ *http.Request) bool {
			_, _ = io.WriteString(w, `{"status":"Downloading","id":"l1","progressDetail":{"current":9000000000000000000,"total":1}}`+"\r\n"+
				`{"status":"Downloading","id":"l2","progressDetail":{"current":9000000000000000000,"total":-5}}`+"\r\n")
			return true
		})
		pub := &pubLog{}
		s := provisioned(t, c, pub, fast)
		if err := s.ensureImage(context.Background(), "ghcr.io/home-assistant/home-assistant:2026.2.0"); err != nil {
			t.Fatal(err)
		}
		pub.mu.Lock()
		defer pub.mu.Unlock()
		for _, ev := range pub.evs {
			if p := ev.GetPull(); p != nil && (p.GetPercent() < 0 || p.GetPercent() > 100 || p.GetCurrentBytes() > p.GetTotalBytes() && p.GetTotalBytes() > 0) {
				t.Fatalf("pull progress %v", p)
			}
		}
	})
	t.Run("the container vanishes mid-upgrade", func(t *testing.T) {
		e, c := newHostileEngine(t)
		gone := false
		e.set("start", func(w http.ResponseWriter, _ *http.Request) bool {
			e.mu.Lock()
			first := !gone
			gone = true
			e.mu.Unlock()
			if first {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"message":"No such container"}`)
				return true
			}
			return false
		})
		e.set("archiveGET", func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 1024)) // an empty tar
			return true
		})
		s := provisioned(t, c, nil, fast)
		err := s.Upgrade(context.Background(), "ghcr.io/home-assistant/home-assistant:2026.2.0")
		if !errors.Is(err, ErrRolledBack) || e.calls("start") != 2 || s.spec().Image != "ghcr.io/home-assistant/home-assistant:2026.1.0" {
			t.Fatalf("Upgrade = %v, %d starts, image %s; want rolled back and the old image started", err, e.calls("start"), s.spec().Image)
		}
	})
	t.Run("a garbage snapshot stream", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, strings.Repeat("\xffgarbage", 1000))
			return true
		})
		s := provisioned(t, c, nil, fast)
		err := s.Upgrade(context.Background(), "ghcr.io/home-assistant/home-assistant:2026.2.0")
		if err == nil || e.calls("remove") > 1 || e.calls("start") != 1 {
			t.Fatalf("Upgrade = %v, %d removals (helper only), %d starts; want aborted and the old container started again", err, e.calls("remove"), e.calls("start"))
		}
	})
	t.Run("a snapshot stream that never ends", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
			w.WriteHeader(http.StatusOK)
			return e.hang(w, r)
		})
		s := provisioned(t, c, nil, fast)
		var err error
		within(t, 2*time.Second, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = s.Upgrade(ctx, "ghcr.io/home-assistant/home-assistant:2026.2.0")
		})
		if err == nil || e.calls("start") != 1 {
			t.Fatalf("Upgrade = %v, %d starts; want an error and the old container started again", err, e.calls("start"))
		}
	})
}
