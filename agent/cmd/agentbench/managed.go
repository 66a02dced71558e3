package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// managed is a Home Assistant simulator image for the agent to provision
// and supervise, and what to remove afterwards.
type managed struct {
	image, container string
	url              string
	args             []string // the agent's managed-mode flags
}

// prepareManaged builds an image FROM scratch around the hasim binary (no
// registry is needed) and picks the port the agent publishes it on.
func prepareManaged(ctx context.Context, hasimBin, dir string) (*managed, error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	ctxDir := filepath.Join(dir, "image")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(hasimBin, filepath.Join(ctxDir, "hasim")); err != nil {
		return nil, err
	}
	dockerfile := "FROM scratch\nCOPY hasim /hasim\nLABEL io.homeplane.test=agentbench\n" +
		`ENTRYPOINT ["/hasim", "--addr", "0.0.0.0:8123", "--token", "` + haToken + `"]` + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return nil, err
	}
	m := &managed{image: "homeplane-agentbench-hasim:" + suffix, container: "homeplane-agentbench-ha-" + suffix}
	if out, err := exec.CommandContext(ctx, "docker", "build", "--quiet", "--tag", m.image, ctxDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker build: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.cleanup()
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m.url = "http://127.0.0.1:" + strconv.Itoa(port)
	m.args = []string{"--mode", "managed", "--image", m.image, "--ha-port", strconv.Itoa(port),
		"--container-name", m.container}
	return m, nil
}

// cleanup removes the container, its volumes and the image.
func (m *managed) cleanup() {
	_ = exec.Command("docker", "rm", "--force", m.container).Run()
	_ = exec.Command("docker", "volume", "rm", "--force", m.container+"-config", m.container+"-config-snapshot").Run()
	_ = exec.Command("docker", "image", "rm", "--force", m.image).Run()
}

// waitHA waits until Home Assistant answers its API root with the token.
func waitHA(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/", nil)
		req.Header.Set("Authorization", "Bearer "+haToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("home assistant did not answer at " + url)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}
