package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/docker/docker/client"
)

// MaxEngineAnswer bounds an Engine API answer that is read whole (inspect,
// list, create, errors). The Docker client decodes such answers without a
// bound, so a broken or hostile engine could make the agent hold any
// amount; real answers for one container are a few KiB.
const MaxEngineAnswer = 4 << 20

// ErrEngineAnswerTooLarge is the read error of an answer past MaxEngineAnswer.
var ErrEngineAnswerTooLarge = errors.New("supervisor: docker engine answer too large")

// EngineClient builds a Docker client from opts whose whole-read answers
// are bounded by MaxEngineAnswer; streams (events, pulls, archives) are
// bounded where the supervisor reads them.
func EngineClient(opts ...client.Opt) (*client.Client, error) {
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, err
	}
	hc := c.HTTPClient()
	_ = c.Close()
	hc.Transport = boundedTransport{next: hc.Transport}
	return client.NewClientWithOpts(append(opts, client.WithHTTPClient(hc))...)
}

type boundedTransport struct{ next http.RoundTripper }

func (t boundedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || streamed(r) {
		return resp, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: MaxEngineAnswer}
	return resp, nil
}

// streamed reports whether the answer to r is a stream the supervisor
// bounds itself.
func streamed(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasSuffix(p, "/events") || strings.HasSuffix(p, "/images/create") ||
		strings.HasSuffix(p, "/archive") || strings.HasSuffix(p, "/build")
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w (over %d bytes)", ErrEngineAnswerTooLarge, MaxEngineAnswer)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
