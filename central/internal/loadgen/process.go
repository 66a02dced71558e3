package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Central is a central server the load generator runs itself, so that it
// can sample it and kill and restart it.
type Central struct {
	// Command and Args start central; Log receives its output.
	Command string
	Args    []string
	Log     io.Writer
	// ReadyURL is polled until it answers 200 (central's /readyz).
	ReadyURL string

	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts central and waits until it is ready.
func (c *Central) Start(ctx context.Context) error {
	cmd := exec.Command(c.Command, c.Args...)
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start central: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			return errors.New("central exited while starting; see its log")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if ready(ctx, c.ReadyURL) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("central not ready at %s within 60s", c.ReadyURL)
		}
		sleepUntil(ctx, time.Now().Add(20*time.Millisecond))
	}
}

func ready(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID is the running central's process id, 0 when none runs.
func (c *Central) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.done:
		return 0
	default:
		return c.cmd.Process.Pid
	}
}

// Stop sends sig and waits for central to exit (SIGKILL after 30s).
func (c *Central) Stop(sig syscall.Signal) {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}
