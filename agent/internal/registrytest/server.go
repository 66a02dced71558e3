package registrytest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options shape how the registry answers.
type Options struct {
	// BytesPerSecond paces blob bodies, so a pull lasts long enough to
	// report progress; 0 sends them at once.
	BytesPerSecond int
	// StallManifests holds manifest requests without answering.
	StallManifests bool
	// StallLayersAfter, when > 0, sends that many bytes of every layer and
	// then holds the request without sending more.
	StallLayersAfter int
}

// Server is a registry on a loopback port. Plain HTTP is enough: the engine
// treats 127.0.0.0/8 registries as insecure and speaks HTTP to them.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	quit chan struct{} // closed by Close: releases stalled requests
	once sync.Once
	done chan struct{}

	mu       sync.Mutex
	images   map[string]*Image // by "repo:tag" and "repo@digest"
	blobs    map[string][]byte
	requests []string
	stalled  int // requests held right now
}

// Start serves on 127.0.0.1 at a free port.
func Start(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registrytest: %w", err)
	}
	s := &Server{opts: opts, ln: ln, quit: make(chan struct{}), done: make(chan struct{}),
		images: map[string]*Image{}, blobs: map[string][]byte{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	return s, nil
}

// Host is the registry's address as it appears in image references.
func (s *Server) Host() string { return s.ln.Addr().String() }

// Add serves img as repo:tag (and repo@its digest); it returns the full
// reference to pull.
func (s *Server) Add(repo, tag string, img *Image) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images[repo+":"+tag] = img
	s.images[repo+"@"+img.ManifestDigest] = img
	for d, b := range img.blobs {
		s.blobs[d] = b
	}
	return s.Host() + "/" + repo + ":" + tag
}

// Requests lists the requests served so far as "METHOD path".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Stalled is how many requests are being held right now.
func (s *Server) Stalled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled
}

// Close stops serving, releasing held requests and closing connections.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.quit)
		_ = s.srv.Close()
		<-s.done
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		failure(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "this registry is read-only")
		return
	}
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/manifests/"):
		repo, ref := split(p, "/manifests/")
		s.manifest(w, r, repo, ref)
	case strings.Contains(p, "/blobs/"):
		_, d := split(p, "/blobs/")
		s.blob(w, r, d)
	default:
		failure(w, http.StatusNotFound, "NAME_UNKNOWN", "no such path")
	}
}

// split cuts "/v2/<repo><sep><ref>" at the last sep.
func split(p, sep string) (repo, ref string) {
	i := strings.LastIndex(p, sep)
	return strings.TrimPrefix(p[:i], "/v2/"), p[i+len(sep):]
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	if s.opts.StallManifests {
		s.hold(r)
		return
	}
	sep := ":"
	if strings.HasPrefix(ref, "sha256:") {
		sep = "@"
	}
	s.mu.Lock()
	img := s.images[repo+sep+ref]
	s.mu.Unlock()
	if img == nil {
		failure(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: "+repo+sep+ref)
		return
	}
	h := w.Header()
	h.Set("Content-Type", MediaManifest)
	h.Set("Docker-Content-Digest", img.ManifestDigest)
	h.Set("Content-Length", strconv.Itoa(len(img.Manifest)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(img.Manifest)
}

func (s *Server) blob(w http.ResponseWriter, r *http.Request, d string) {
	s.mu.Lock()
	b, ok := s.blobs[d]
	s.mu.Unlock()
	if !ok {
		failure(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown: "+d)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	isLayer := s.isLayer(d)
	if isLayer && s.opts.StallLayersAfter > 0 && s.opts.StallLayersAfter < len(b) {
		s.send(w, r, b[:s.opts.StallLayersAfter])
		s.hold(r)
		return
	}
	s.send(w, r, b)
}

func (s *Server) isLayer(d string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, img := range s.images {
		for _, l := range img.Layers {
			if l == d {
				return true
			}
		}
	}
	return false
}

// send writes b, paced to BytesPerSecond when set.
func (s *Server) send(w http.ResponseWriter, r *http.Request, b []byte) {
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if s.opts.BytesPerSecond <= 0 {
		_, _ = w.Write(b)
		flush()
		return
	}
	const tick = 50 * time.Millisecond
	chunk := max(s.opts.BytesPerSecond/int(time.Second/tick), 1)
	t := time.NewTicker(tick)
	defer t.Stop()
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		flush()
		b = b[n:]
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
}

// hold keeps the request open, sending nothing, until the client gives up
// or the server closes; then it drops the connection, so what was sent
// never passes for a complete answer.
func (s *Server) hold(r *http.Request) {
	s.mu.Lock()
	s.stalled++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stalled--
		s.mu.Unlock()
	}()
	select {
	case <-r.Context().Done():
	case <-s.quit:
	}
	panic(http.ErrAbortHandler)
}

func failure(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
