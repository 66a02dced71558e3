package rpc

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// withHTTPErrors gives the answers Connect sends without a body a JSON
// error body, so that a plain HTTP client (a voice device) always reads
// {"code", "message"}, and answers a request body over maxBody with 413
// instead of Connect's 429: too large is not a reason to retry later.
//
//   - 405 (a unary procedure called with GET): code "unimplemented";
//   - 415 (a Content-Type Connect does not serve): code "invalid_argument";
//   - 413 (a body over maxBody): code "resource_exhausted", as before.
func withHTTPErrors(next http.Handler, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A shallow copy: the server keeps checking its own Request's body
		// (was it read to the end?) to decide whether the connection can
		// serve another request; replacing that one would hide an
		// unfinished body and keep a stalled connection open.
		body := &countingBody{ReadCloser: r.Body}
		r = r.WithContext(r.Context())
		r.Body = body
		ew := &errorWriter{ResponseWriter: w, oversized: func() bool {
			return r.ContentLength > maxBody || body.n > maxBody
		}, maxBody: maxBody}
		next.ServeHTTP(ew, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// errorWriter rewrites the status line of bodiless errors and writes their
// JSON body; whatever the handler writes after that is dropped.
type errorWriter struct {
	http.ResponseWriter
	oversized   func() bool
	maxBody     int64
	wroteHeader bool
	replaced    bool
}

func (w *errorWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	var errCode, msg string
	jsonAlready := w.Header().Get("Content-Type") == "application/json"
	switch {
	case jsonAlready && code != http.StatusTooManyRequests:
		// A handler that words its own JSON errors (the pairing form
		// endpoints) keeps them.
		w.ResponseWriter.WriteHeader(code)
		return
	case code == http.StatusTooManyRequests && w.oversized():
		code, errCode, msg = http.StatusRequestEntityTooLarge, "resource_exhausted",
			"request body is larger than "+strconv.FormatInt(w.maxBody>>10, 10)+" KiB"
	case code == http.StatusMethodNotAllowed:
		errCode, msg = "unimplemented", "use POST for this procedure"
	case code == http.StatusUnsupportedMediaType:
		errCode, msg = "invalid_argument", "Content-Type must be application/json or application/proto (Connect), or a gRPC type"
	default:
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "application/json")
	w.ResponseWriter.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"code": errCode, "message": msg})
	_, _ = w.ResponseWriter.Write(append(b, '\n'))
}

func (w *errorWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush keeps server streams (WatchTimers) flushing through the wrapper.
func (w *errorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *errorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
