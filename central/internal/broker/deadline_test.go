package broker

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	reads, writes []time.Time
	writeErr      error
	closed        bool
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.reads = append(c.reads, t)
	return nil
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.writes = append(c.writes, t)
	return nil
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	return len(b), nil
}

func (c *deadlineConn) Close() error { c.closed = true; return nil }

func TestReadDeadlineMovesLazilyAndNeverEarly(t *testing.T) {
	raw := &deadlineConn{}
	c := &admittedConn{Conn: raw}
	start := time.Now()
	// mochi refreshes to 1.5 × keepalive (here 60 s) on every packet.
	for i := range 1000 {
		want := start.Add(time.Duration(i)*time.Millisecond + 90*time.Second)
		if err := c.SetDeadline(want); err != nil {
			t.Fatal(err)
		}
		got := raw.reads[len(raw.reads)-1]
		if got.Before(want) {
			t.Fatalf("packet %d: deadline %v is earlier than the %v asked", i, got, want)
		}
		if got.Sub(want) > maxDeadlineSlack {
			t.Fatalf("packet %d: deadline %v is more than %v after the %v asked", i, got, maxDeadlineSlack, want)
		}
	}
	if len(raw.reads) != 1 {
		t.Fatalf("a second of packets moved the read deadline %d times, want once", len(raw.reads))
	}
	// Past the slack it moves again.
	if err := c.SetDeadline(start.Add(90*time.Second + maxDeadlineSlack + time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if len(raw.reads) != 2 {
		t.Fatalf("a deadline past the one set did not move it (%d moves)", len(raw.reads))
	}
	// A zero deadline (keepalive 0) clears it at once.
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(raw.reads) != 3 || !raw.reads[2].IsZero() {
		t.Fatalf("keepalive 0 did not clear the deadline: %v", raw.reads)
	}
	if err := c.SetDeadline(start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(raw.reads) != 4 || raw.reads[3].Before(start.Add(time.Second)) {
		t.Fatalf("after clearing, a deadline was not set again: %v", raw.reads)
	}
	// A short deadline gets a tenth of its time as slack, not five seconds.
	short := &deadlineConn{}
	c = &admittedConn{Conn: short}
	want := time.Now().Add(time.Second)
	_ = c.SetDeadline(want)
	if late := short.reads[0].Sub(want); late < 0 || late > 100*time.Millisecond {
		t.Fatalf("a deadline 1 s ahead was set %v late", late)
	}
}

func TestWriteDeadlineMovesOncePerHalfTimeout(t *testing.T) {
	raw := &deadlineConn{}
	c := &admittedConn{Conn: raw, writeTimeout: time.Hour}
	before := time.Now()
	for range 100 {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if len(raw.writes) != 1 {
		t.Fatalf("100 writes moved the write deadline %d times, want once", len(raw.writes))
	}
	if d := raw.writes[0].Sub(before); d < time.Hour {
		t.Fatalf("write deadline only %v ahead, want the whole timeout", d)
	}
	// Once less than half the timeout is left, the next write renews it.
	c.writeBy = time.Now().Add(time.Hour/2 - time.Second)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 2 || raw.writes[1].Sub(time.Now()) < time.Hour-time.Minute {
		t.Fatalf("a write with under half the timeout left did not renew it: %v", raw.writes)
	}

	// A write that times out closes the connection.
	raw.writeErr = os.ErrDeadlineExceeded
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) || !raw.closed {
		t.Fatalf("timed-out write: err %v, closed %v", err, raw.closed)
	}
}
