package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener is a TCP (optionally TLS) listener for mochi that, unlike mochi's
// own, admits connections within the limits of its admission (per source
// address and in total, see admission.go), gives each connection a deadline
// to deliver its CONNECT (mochi arms none before it), survives transient
// accept errors, and closes every connection it handed out when closed.
type listener struct {
	id             string
	addr           string
	tlsConfig      *tls.Config
	connectTimeout time.Duration
	writeTimeout   time.Duration
	admission      *admission
	rejected       func(reason string)

	log *slog.Logger

	refusedLogged atomic.Int64 // unix nanoseconds of the last refusal logged

	mu     sync.Mutex
	ln     net.Listener
	conns  map[*admittedConn]struct{}
	closed bool
	// serving counts the connections handed to mochi. Close waits for them:
	// mochi counts its clients in a WaitGroup that its own Close waits on
	// right after ours returns, and a connection it is given while it waits
	// would be an Add racing that Wait.
	serving sync.WaitGroup
}

var _ listeners.Listener = (*listener)(nil)

func (l *listener) ID() string       { return l.id }
func (l *listener) Protocol() string { return "tcp" }

func (l *listener) Address() string {
	if a := l.Addr(); a != nil {
		return a.String()
	}
	return l.addr
}

// Addr is the bound address, nil before Init.
func (l *listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

func (l *listener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = log
	l.ln = ln
	l.conns = make(map[*admittedConn]struct{})
	return nil
}

func (l *listener) Serve(establish listeners.EstablishFn) {
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			// Transient, e.g. out of file descriptors: back off instead of
			// giving up on the listener.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("mqtt accept failed", "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ac := l.track(conn)
		if ac == nil {
			continue
		}
		go func() {
			defer l.serving.Done()
			defer l.untrack(ac)
			if err := establish(l.id, ac); err != nil {
				l.log.Debug("mqtt connection ended", "remote", conn.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// track admits and registers conn, or closes it when the listener is closed
// or admission refuses it. Refusals are counted, not logged: an attack
// would flood the log.
func (l *listener) track(conn net.Conn) *admittedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = conn.Close()
		return nil
	}
	ac := &admittedConn{Conn: conn, writeTimeout: l.writeTimeout}
	reason, evicted := l.admission.admit(ac)
	if reason != "" {
		_ = conn.Close()
		l.rejected(reason)
		l.logRefusal(ac.key, reason)
		return nil
	}
	if evicted != nil {
		// Its goroutine sees the close and releases it.
		_ = evicted.Close()
		l.rejected(rejectEvicted)
		l.logRefusal(evicted.key, rejectEvicted)
	}
	_ = conn.SetDeadline(time.Now().Add(l.connectTimeout))
	l.conns[ac] = struct{}{}
	l.serving.Add(1) // under mu, before closed: never concurrent with Close's Wait
	return ac
}

// logRefusal logs at most one refusal every ten seconds: enough to see an
// attack and where it comes from, never a log flood. The metric counts all.
func (l *listener) logRefusal(source netip.Prefix, reason string) {
	now := time.Now().UnixNano()
	last := l.refusedLogged.Load()
	if now-last < int64(10*time.Second) || !l.refusedLogged.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("mqtt connections refused at accept", "source", source.String(), "reason", reason)
}

func (l *listener) untrack(ac *admittedConn) {
	_ = ac.Close() // mochi closes it too; release must not run while it is open
	ac.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, ac)
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	ln := l.ln
	l.mu.Unlock()

	if ln != nil {
		_ = ln.Close()
	}
	// Every connection is closed, and every client ended by mochi, before
	// mochi is asked to close the listener's clients: its
	// closeListenerClients (v2.7.9) takes the clients' read lock twice over
	// (GetByListener calls Len), which deadlocks when a client that ends
	// at that moment asks for the write lock in between. Wills fire as for
	// any connection that drops; MQTT 5 clients get no DISCONNECT first.
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.serving.Wait()
	closeClients(l.id) // none of this listener's are left
}
