package supervisor

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/polltest"
	"github.com/homeplane/homeplane/protocol/topic"
)

// testLabel marks everything this package's tests create, for cleanup.
const testLabel = "io.homeplane.test"

var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// images are the hasim tags the tests use, built once per run.
type images struct {
	v1, v2, broken string
}

var (
	imgOnce sync.Once
	imgs    images
	imgErr  error
	dockerC *client.Client
	// hasimBinary is the static hasim build the images contain.
	hasimBinary []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dockerC != nil {
		ctx := context.Background()
		if err := dockerC.NetworkRemove(ctx, testNetwork); err != nil && !cerrdefs.IsNotFound(err) {
			fmt.Fprintln(os.Stderr, "remove test network:", err)
		}
		for _, ref := range []string{imgs.v1, imgs.v2, imgs.broken, probeImage} {
			if ref != "" {
				_, _ = dockerC.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
			}
		}
	}
	os.Exit(code)
}

// needDocker returns a client for the local engine and the hasim images,
// skipping (or failing under HOMEPLANE_REQUIRE_SERVICES=1) without one.
func needDocker(t testing.TB) (*client.Client, images) {
	t.Helper()
	imgOnce.Do(func() {
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			imgErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Ping(ctx); err != nil {
			imgErr = fmt.Errorf("docker engine unreachable: %w", err)
			return
		}
		dockerC = c
		imgs, imgErr = buildHasimImages(c)
	})
	if dockerC == nil {
		if os.Getenv("HOMEPLANE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("docker engine needed and HOMEPLANE_REQUIRE_SERVICES=1: %v", imgErr)
		}
		t.Skipf("skipping: no docker engine (%v)", imgErr)
	}
	if imgErr != nil {
		t.Fatalf("build hasim images: %v", imgErr)
	}
	return dockerC, imgs
}

// buildHasimImages builds the hasim binary statically and three images FROM
// scratch: two good versions and one that never becomes healthy.
func buildHasimImages(c *client.Client) (images, error) {
	dir, err := os.MkdirTemp("", "hasim-image")
	if err != nil {
		return images{}, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hasim")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/homeplane/homeplane/agent/cmd/hasim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return images{}, fmt.Errorf("go build hasim: %v: %s", err, out)
	}
	if hasimBinary, err = os.ReadFile(bin); err != nil {
		return images{}, err
	}
	repo := "homeplane-hasim-test-" + runID
	out := images{v1: repo + ":v1", v2: repo + ":v2", broken: repo + ":broken"}
	for _, b := range []struct{ tag, version, extra string }{
		{out.v1, "2026.1.0", ""},
		{out.v2, "2026.2.0", ""},
		{out.broken, "2026.3.0", `, "--unhealthy"`},
	} {
		if err := buildImage(c, b.tag, hasimDockerfile(b.version, b.extra), "hasim", hasimBinary); err != nil {
			return out, err
		}
	}
	return out, nil
}

// hasimDockerfile runs hasim reporting version; extra adds arguments (JSON
// array items with a leading comma), labels adds LABEL key=value lines.
func hasimDockerfile(version, extra string, labels ...string) string {
	df := fmt.Sprintf("FROM scratch\nCOPY hasim /hasim\nLABEL %s=%q %s=%q\n"+
		"ENTRYPOINT [\"/hasim\", \"--addr\", \"0.0.0.0:8123\", \"--token\", \"test-token\", \"--version\", %q%s]\n",
		LabelVersion, version, testLabel, runID, version, extra)
	for _, l := range labels {
		df += "LABEL " + l + "\n"
	}
	return df
}

// buildImage builds tag from dockerfile with binary beside it as name.
func buildImage(c *client.Client, tag, dockerfile, name string, binary []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {name, 0o755, binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := c.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("build %s: %w", tag, err)
		}
		if m.Error != "" {
			return fmt.Errorf("build %s: %s", tag, m.Error)
		}
	}
}

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	evs  []*homeplanev1.InstanceEvent
	tele []*homeplanev1.Telemetry
}

func (r *recorder) Publish(_ context.Context, kind topic.Kind, msg proto.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m := msg.(type) {
	case *homeplanev1.InstanceEvent:
		r.evs = append(r.evs, proto.Clone(m).(*homeplanev1.InstanceEvent))
	case *homeplanev1.Telemetry:
		r.tele = append(r.tele, proto.Clone(m).(*homeplanev1.Telemetry))
	default:
		return fmt.Errorf("unexpected %s message %T", kind, msg)
	}
	return nil
}

func (r *recorder) events(kind string) []*homeplanev1.InstanceEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*homeplanev1.InstanceEvent
	for _, e := range r.evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) telemetry() []*homeplanev1.Telemetry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tele)
}

// fixture is one supervised instance with fast test timings.
type fixture struct {
	t       testing.TB
	docker  *client.Client
	imgs    images
	rec     *recorder
	name    string
	agentID string
	dir     string
	sup     *Supervisor
	cancel  context.CancelFunc
	done    chan struct{}
}

func fastOptions(name string) Options {
	return Options{
		Name:             name,
		Labels:           map[string]string{testLabel: runID},
		ProbeInterval:    100 * time.Millisecond,
		StartPeriod:      3 * time.Second,
		FailureThreshold: 2,
		BackoffMin:       100 * time.Millisecond,
		BackoffMax:       time.Second,
		RestartBudget:    3,
		BudgetWindow:     time.Minute,
		UpgradeDeadline:  4 * time.Second,
		StopTimeout:      2 * time.Second,
		PullStallTimeout: 5 * time.Second,
		SampleInterval:   300 * time.Millisecond,
		AllowedImages:    []string{"*"}, // images built here and served by test registries
	}
}

// newFixture starts a supervisor with fastOptions, changed by mods.
func newFixture(t testing.TB, mods ...func(*Options)) *fixture {
	t.Helper()
	d, imgs := needDocker(t)
	f := &fixture{t: t, docker: d, imgs: imgs, rec: &recorder{},
		name:    "homeplane-test-" + runID + "-" + randHex(),
		agentID: "agent-" + randHex(), dir: t.TempDir()}
	t.Cleanup(func() { cleanupDocker(t, d, f.agentID) })
	opts := fastOptions(f.name)
	for _, m := range mods {
		m(&opts)
	}
	f.start(opts)
	return f
}

func randHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// start builds a Supervisor on the fixture's state and runs its watchdog.
func (f *fixture) start(opts Options) {
	f.t.Helper()
	s, err := New(f.docker, f.rec, f.agentID, f.dir, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.sup, f.cancel, f.done = s, cancel, make(chan struct{})
	go func() { defer close(f.done); _ = s.Run(ctx) }()
	f.t.Cleanup(f.stop)
}

// stop ends the watchdog as an agent exit would.
func (f *fixture) stop() {
	f.cancel()
	<-f.done
}

func (f *fixture) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	f.t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, within, what, cond)
}

func (f *fixture) waitHealthy(within time.Duration) *homeplanev1.Instance {
	f.t.Helper()
	var st *homeplanev1.Instance
	waitFor(f.t, within, "healthy", func() bool {
		st = f.sup.Status(context.Background())
		return st.State == StateRunning && st.Health == HealthHealthy
	})
	return st
}

func (f *fixture) inspect() container.InspectResponse {
	f.t.Helper()
	c, err := f.docker.ContainerInspect(context.Background(), f.name)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// cleanupDocker removes every container and volume the agent created.
func cleanupDocker(t testing.TB, d *client.Client, agentID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", LabelManagedBy+"="+agentID))
	list, err := d.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: list containers: %v", err)
	}
	for _, c := range list {
		if err := d.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("cleanup: remove container %s: %v", c.ID, err)
		}
	}
	vols, err := d.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Errorf("cleanup: list volumes: %v", err)
	}
	for _, v := range vols.Volumes {
		if err := d.VolumeRemove(ctx, v.Name, true); err != nil {
			t.Errorf("cleanup: remove volume %s: %v", v.Name, err)
		}
	}
}
