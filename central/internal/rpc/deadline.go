package rpc

import (
	"context"
	"net/http"
	"time"

	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// Connection deadlines some procedures need beyond the server's ReadTimeout
// and WriteTimeout. They are granted only once the caller is authenticated
// and admitted: until then a request, however slow, keeps the server's
// short deadlines. The read deadline matters too: on HTTP/1.1 an expired
// one cancels the request's context while the handler still waits. The
// request body stays bounded by MaxRequestBytes.
var longDeadlines = map[string]struct {
	read  bool          // extend the read deadline as well
	after time.Duration // how long from admission; 0: no write deadline at all
}{
	// The agent may take minutes; the margin covers answering.
	hv1c.HomeServiceControlInstanceProcedure: {read: true, after: maxInstanceTimeout + 30*time.Second},
	// A voice device keeps its timer stream open for as long as it runs;
	// on HTTP/1.1 an expired read deadline would end it too.
	hv1c.IntentServiceWatchTimersProcedure: {read: true},
}

type controllerKey struct{}

// withDeadlines lets the handlers of next change their connection's
// deadlines (see extendDeadlines).
func withDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), controllerKey{}, http.NewResponseController(w))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// extendDeadlines grants an admitted call of procedure its long deadlines.
// Not every ResponseWriter supports deadlines; the server's own timeouts
// then apply.
func extendDeadlines(ctx context.Context, procedure string, now time.Time) {
	d, ok := longDeadlines[procedure]
	rc, _ := ctx.Value(controllerKey{}).(*http.ResponseController)
	if !ok || rc == nil {
		return
	}
	var until time.Time // zero: no deadline
	if d.after > 0 {
		until = now.Add(d.after)
	}
	_ = rc.SetWriteDeadline(until)
	if d.read {
		_ = rc.SetReadDeadline(until)
	}
}
