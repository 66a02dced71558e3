package supervisor

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// emptyArchive answers a container archive read with an empty tar.
func emptyArchive(w http.ResponseWriter, _ *http.Request) bool {
	w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(make([]byte, 1024))
	return true
}

// refuse answers 500 with message.
func refuse(message string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"`+message+`"}`)
		return true
	}
}

// helper answers the snapshot helper's create with an id of its own, so
// that its removal is not taken for the old container's.
func helper(w http.ResponseWriter, _ *http.Request) bool {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"Id":"`+fakeID(7)+`","Warnings":[]}`)
	return true
}

// TestAttacksRound8Upgrade is the eighth attack round's part on the
// supervisor (docs/benchmarks.md, "Attacks, round 8"): upgrades the engine
// breaks half way. Whatever it refuses, a container under our name must be
// left, started, and the snapshot copy must end on its own.
func TestAttacksRound8Upgrade(t *testing.T) {
	fast := Options{EngineTimeout: time.Second, ProbeInterval: 50 * time.Millisecond, SampleInterval: -1,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond, StartPeriod: time.Nanosecond,
		PullStallTimeout: 500 * time.Millisecond, PullDeadline: 2 * time.Second, UpgradeDeadline: time.Second,
		SnapshotTimeout: time.Second}
	const next = "ghcr.io/home-assistant/home-assistant:2026.2.0"
	// removedOld counts removals of the old container, fakeID(1).
	removedOld := func(e *hostileEngine) func() int {
		n := 0
		e.set("remove", func(_ http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, fakeID(1)) {
				e.mu.Lock()
				n++
				e.mu.Unlock()
			}
			return false
		})
		return func() int { e.mu.Lock(); defer e.mu.Unlock(); return n }
	}
	// named refuses a create under the container's own name (not the
	// snapshot helper's) with message.
	named := func(message string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Query().Get("name") != "homeplane-ha" {
				return helper(w, r)
			}
			return refuse(message)(w, r)
		}
	}

	t.Run("the new container's create and the rollback's create refused", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", emptyArchive)
		e.set("create", named("no space left on device"))
		gone := removedOld(e)
		s := provisioned(t, c, nil, fast)
		err := s.Upgrade(context.Background(), next)
		if err == nil || gone() != 0 || e.calls("start") != 1 || s.spec().Image != "ghcr.io/home-assistant/home-assistant:2026.1.0" {
			t.Fatalf("Upgrade = %v, old container removed %d times, %d starts, image %s; want an error, the old container kept and started again",
				err, gone(), e.calls("start"), s.spec().Image)
		}
	})
	t.Run("the old container cannot be renamed aside", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", emptyArchive)
		e.set("rename", refuse("rename refused"))
		e.set("create", helper)
		gone := removedOld(e)
		s := provisioned(t, c, nil, fast)
		err := s.Upgrade(context.Background(), next)
		if err == nil || gone() != 0 || e.calls("start") != 1 {
			t.Fatalf("Upgrade = %v, old container removed %d times, %d starts; want an error, the old container started again", err, gone(), e.calls("start"))
		}
	})
	t.Run("a healthy upgrade removes the old container only at the end", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", emptyArchive)
		var order []string
		for _, op := range []string{"rename", "create", "start", "remove"} {
			e.set(op, func(_ http.ResponseWriter, r *http.Request) bool {
				if op != "create" || r.URL.Query().Get("name") == "homeplane-ha" {
					e.mu.Lock()
					order = append(order, op)
					e.mu.Unlock()
				}
				return false
			})
		}
		s := provisioned(t, c, nil, fast)
		if err := s.Upgrade(context.Background(), next); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		got := strings.Join(order, ",")
		e.mu.Unlock()
		// The snapshot helper's removal comes first; the old container's last.
		if !strings.HasSuffix(got, "rename,create,start,remove") {
			t.Fatalf("operations %s; want the old container renamed, the new created and started, then the old removed", got)
		}
	})
	t.Run("the rollback's volume restore refused", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", emptyArchive)
		exited := false
		e.set("start", func(_ http.ResponseWriter, _ *http.Request) bool {
			e.mu.Lock()
			exited = e.ids["start"] == 1 // the new version starts, then exits
			e.mu.Unlock()
			return false
		})
		e.set("inspect", func(w http.ResponseWriter, r *http.Request) bool {
			e.mu.Lock()
			x := exited
			e.mu.Unlock()
			if !x || !strings.Contains(r.URL.Path, "homeplane-ha") {
				return false
			}
			_, _ = io.WriteString(w, `{"Id":"`+fakeID(1)+`","Name":"/homeplane-ha","State":{"Status":"exited","Running":false,"ExitCode":1},"Config":{"Image":"x","Labels":{"`+LabelManagedBy+`":"a1","`+LabelRole+`":"home-assistant"}}}`)
			e.mu.Lock()
			exited = false
			e.mu.Unlock()
			return true
		})
		e.set("volumeRemove", func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "snapshot") {
				return false
			}
			return refuse("volume is in use")(w, r)
		})
		s := provisioned(t, c, nil, fast)
		err := s.Upgrade(context.Background(), next)
		if err == nil || e.calls("start") < 2 || s.spec().Image != "ghcr.io/home-assistant/home-assistant:2026.1.0" {
			t.Fatalf("Upgrade = %v, %d starts, image %s; want an error and the old container started again", err, e.calls("start"), s.spec().Image)
		}
	})
	for name, op := range map[string]string{
		"a snapshot read that never ends, no caller deadline":  "archiveGET",
		"a snapshot write that never ends, no caller deadline": "archivePUT",
	} {
		t.Run(name, func(t *testing.T) {
			e, c := newHostileEngine(t)
			e.set("archiveGET", emptyArchive)
			e.set(op, func(w http.ResponseWriter, r *http.Request) bool {
				if op == "archiveGET" {
					w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				} else {
					_, _ = io.Copy(io.Discard, r.Body)
				}
				return e.hang(w, r)
			})
			s := provisioned(t, c, nil, fast)
			var err error
			within(t, 2*time.Second, func() { err = s.Upgrade(context.Background(), next) })
			if err == nil || e.calls("start") != 1 {
				t.Fatalf("Upgrade = %v, %d starts; want an error within the snapshot timeout and the old container started again", err, e.calls("start"))
			}
		})
	}
	t.Run("a snapshot that trickles a byte at a time forever", func(t *testing.T) {
		e, c := newHostileEngine(t)
		e.set("archiveGET", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("X-Docker-Container-Path-Stat", "e30=")
			w.WriteHeader(http.StatusOK)
			for r.Context().Err() == nil && !closed(e.done) {
				_, _ = w.Write([]byte{0})
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
			return true
		})
		s := provisioned(t, c, nil, fast)
		var err error
		within(t, 2*time.Second, func() { err = s.Upgrade(context.Background(), next) })
		if err == nil || e.calls("start") != 1 {
			t.Fatalf("Upgrade = %v, %d starts; want an error and the old container started again", err, e.calls("start"))
		}
	})
	t.Run("the agent restarts between rename and create", func(t *testing.T) {
		e, c := newHostileEngine(t)
		// Our name is gone; the renamed old container is there.
		var renamed atomic.Int32
		e.set("inspect", func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/homeplane-ha/") && renamed.Load() == 0 {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"message":"No such container"}`)
				return true
			}
			return false
		})
		e.set("rename", func(_ http.ResponseWriter, r *http.Request) bool {
			if r.URL.Query().Get("name") == "homeplane-ha" {
				renamed.Add(1)
			}
			return false
		})
		s := provisioned(t, c, nil, fast)
		if err := s.Attach(context.Background()); err != nil {
			t.Fatal(err)
		}
		if renamed.Load() != 1 || !s.st.Provisioned {
			t.Fatalf("%d renames back, provisioned %v; want the kept container renamed back and still provisioned", renamed.Load(), s.st.Provisioned)
		}
	})
}
