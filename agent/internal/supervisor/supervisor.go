// Package supervisor keeps the Home Assistant container alive through the
// Docker Engine API: it provisions the container, watches it (Docker events
// plus probing Home Assistant itself), restarts it with backoff inside a
// restart budget, upgrades it with rollback, re-attaches after an agent
// restart, sweeps orphans and samples its resource use.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// Docker is the part of the Docker Engine API the supervisor uses;
// *client.Client satisfies it.
type Docker interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerStop(ctx context.Context, id string, options container.StopOptions) error
	ContainerRestart(ctx context.Context, id string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerRename(ctx context.Context, id, newName string) error
	ContainerUpdate(ctx context.Context, id string, updateConfig container.UpdateConfig) (container.UpdateResponse, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerStatsOneShot(ctx context.Context, id string) (container.StatsResponseReader, error)
	CopyFromContainer(ctx context.Context, id, srcPath string) (io.ReadCloser, container.PathStat, error)
	CopyToContainer(ctx context.Context, id, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeRemove(ctx context.Context, id string, force bool) error
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
}

var _ Docker = (*client.Client)(nil)

// Publisher sends events and telemetry to central; the agent's outbox (or
// the uplink itself) satisfies it.
type Publisher interface {
	Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error
}

// Sentinel errors.
var (
	ErrNotProvisioned = errors.New("supervisor: no home assistant container is provisioned")
	ErrBusy           = errors.New("supervisor: another instance operation is in progress")
	ErrRolledBack     = errors.New("supervisor: upgrade rolled back")
	ErrPullStalled    = errors.New("supervisor: image pull made no progress")
	ErrCrashLoop      = errors.New("supervisor: restart budget exhausted")
	ErrUnhealthy      = errors.New("supervisor: home assistant did not become healthy")
)

// Labels put on everything the supervisor creates.
const (
	LabelManagedBy = "io.homeplane.managed-by"
	LabelInstance  = "io.homeplane.instance"
	LabelRole      = "io.homeplane.role"
	// LabelVersion is read from the image (OCI label) to report the version.
	LabelVersion = "org.opencontainers.image.version"
)

// Spec describes the managed Home Assistant container.
type Spec struct {
	// Image is the image reference (tag or digest).
	Image string `json:"image"`
	// HostPort publishes ContainerPort on BindAddress; 0 lets Docker choose.
	HostPort int `json:"host_port"`
	// BindAddress is where the port is published (default 127.0.0.1).
	BindAddress string `json:"bind_address"`
	// ContainerPort is where Home Assistant listens (default 8123).
	ContainerPort int `json:"container_port"`
	// HostNetwork runs the container in the host's network namespace (for
	// discovery); ports are then not published.
	HostNetwork bool `json:"host_network"`
	// TimeZone is passed as TZ.
	TimeZone string `json:"time_zone"`
	// MemoryBytes and NanoCPUs limit the container; 0 means no limit.
	MemoryBytes int64 `json:"memory_bytes"`
	NanoCPUs    int64 `json:"nano_cpus"`
	// Env adds environment variables ("K=V").
	Env []string `json:"env,omitempty"`
	// Cmd overrides the image's command.
	Cmd []string `json:"cmd,omitempty"`
}

func (s Spec) withDefaults() Spec {
	if s.BindAddress == "" {
		s.BindAddress = "127.0.0.1"
	}
	if s.ContainerPort == 0 {
		s.ContainerPort = 8123
	}
	return s
}

// Options tunes a Supervisor; zero values take the defaults in brackets.
type Options struct {
	Logger *slog.Logger
	// Name names the container ("homeplane-ha") and its volumes.
	Name string
	// Labels are added to every container and volume created.
	Labels map[string]string
	// HTTPClient probes Home Assistant (a client with a 3 s timeout).
	HTTPClient *http.Client
	// ProbePath is what the probe GETs (/manifest.json, which needs no token).
	ProbePath string
	// ProbeInterval is the time between probes (5s).
	ProbeInterval time.Duration
	// StartPeriod is how long after a start probe failures do not count (5m).
	StartPeriod time.Duration
	// FailureThreshold is how many failed probes in a row mean unhealthy (3).
	FailureThreshold int
	// BackoffMin and BackoffMax bound the delay before a restart (1s, 5m).
	BackoffMin, BackoffMax time.Duration
	// RestartBudget restarts are allowed within BudgetWindow (5 in 30m).
	RestartBudget int
	BudgetWindow  time.Duration
	// UpgradeDeadline is how long a new version has to become healthy (10m).
	UpgradeDeadline time.Duration
	// SnapshotTimeout bounds one copy of the config volume, to or from
	// its snapshot (30m).
	SnapshotTimeout time.Duration
	// StopTimeout is the grace before SIGKILL on stop (60s).
	StopTimeout time.Duration
	// PullStallTimeout fails a pull that makes no progress this long (2m).
	PullStallTimeout time.Duration
	// PullDeadline fails a pull that has not ended this long after it
	// began, however it trickles on (1h).
	PullDeadline time.Duration
	// EngineTimeout bounds each Docker Engine call of the watchdog and the
	// sampler, which have no caller's deadline (30s).
	EngineTimeout time.Duration
	// SampleInterval is the time between resource samples (15s; <0: off).
	SampleInterval time.Duration
	// HistoryLen bounds the recorded restarts (20).
	HistoryLen int
	// Now is the clock (time.Now).
	Now func() time.Time
	// AllowedImages are the image repositories Provision and Upgrade accept
	// (see newImagePolicy for the forms); anything else is refused with
	// ErrImageNotAllowed before Docker is asked. Default: OfficialImages.
	AllowedImages []string
	// Network, when set, is a bridge network shared with other homes'
	// containers that cannot reach one another; the container joins it
	// without new privileges or raw sockets (HostedOptions, ADR 0067).
	Network string
	// DefaultMemoryBytes limits the container when neither the spec nor
	// central gives a memory limit (0: none).
	DefaultMemoryBytes int64
	// PidsLimit bounds the container's processes and threads (0: none).
	PidsLimit int64
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "homeplane-ha"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 3 * time.Second}
	}
	if o.ProbePath == "" {
		o.ProbePath = "/manifest.json"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ProbeInterval, 5*time.Second)
	def(&o.StartPeriod, 5*time.Minute)
	def(&o.BackoffMin, time.Second)
	def(&o.BackoffMax, 5*time.Minute)
	def(&o.BudgetWindow, 30*time.Minute)
	def(&o.UpgradeDeadline, 10*time.Minute)
	def(&o.StopTimeout, 60*time.Second)
	def(&o.SnapshotTimeout, 30*time.Minute)
	def(&o.PullStallTimeout, 2*time.Minute)
	def(&o.PullDeadline, time.Hour)
	def(&o.EngineTimeout, 30*time.Second)
	def(&o.SampleInterval, 15*time.Second)
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 3
	}
	if o.RestartBudget <= 0 {
		o.RestartBudget = 5
	}
	if o.HistoryLen <= 0 {
		o.HistoryLen = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.AllowedImages) == 0 {
		o.AllowedImages = OfficialImages
	}
}

// Restart is one recorded restart.
type Restart struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// Supervisor owns one Home Assistant container. Operations (provision,
// start, stop, upgrade, ...) run one at a time; the watchdog stays out of
// the way while one runs.
type Supervisor struct {
	d        Docker
	pub      Publisher
	opts     Options
	images   imagePolicy
	log      *slog.Logger
	agentID  string
	statePth string

	op sync.Mutex // serialises operations and watchdog actions

	mu        sync.Mutex
	st        persisted
	busy      string // operation in progress; the watchdog stands back
	health    string
	healthErr string
	failures  int
	started   time.Time // when the container was last (re)started by us or found
	lastProbe time.Time
	sample    *homeplanev1.Telemetry
	prevCPU   cpuSample
	kick      chan struct{}
	// What Home Assistant itself said (see Observe).
	haVersion string
	haLastOK  time.Time
}

// persisted is the state kept on disk so a restarted agent knows what it owns.
type persisted struct {
	Spec          Spec      `json:"spec"`
	ContainerID   string    `json:"container_id"`
	Provisioned   bool      `json:"provisioned"`
	WantRunning   bool      `json:"want_running"`
	CrashLoop     bool      `json:"crash_loop"`
	Restarts      []Restart `json:"restarts"`
	TotalRestarts int32     `json:"total_restarts"`
	Snapshot      string    `json:"snapshot,omitempty"`
	// Limits, once set (by central), win over the spec of any provision.
	Limits *Limits `json:"limits,omitempty"`
}

// New returns a supervisor for agentID that keeps its state in stateDir
// (mode 0700) and reports through pub.
func New(d Docker, pub Publisher, agentID, stateDir string, opts Options) (*Supervisor, error) {
	opts.defaults()
	images, err := newImagePolicy(opts.AllowedImages)
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	s := &Supervisor{
		images: images,
		d:      d, pub: pub, opts: opts, log: opts.Logger, agentID: agentID,
		statePth: stateFile(stateDir), health: HealthUnknown, kick: make(chan struct{}, 1),
	}
	st, err := loadState(s.statePth)
	if err != nil {
		return nil, err
	}
	s.st = st
	return s, nil
}

// Health values reported in Status.
const (
	HealthUnknown   = "unknown"
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

func (s *Supervisor) now() time.Time { return s.opts.Now() }

func (s *Supervisor) volumeName() string { return s.opts.Name + "-config" }

func (s *Supervisor) labels(role string) map[string]string {
	l := map[string]string{LabelManagedBy: s.agentID, LabelInstance: s.opts.Name, LabelRole: role}
	for k, v := range s.opts.Labels {
		l[k] = v
	}
	return l
}

// event publishes a supervisor event; delivery problems are logged only,
// since the outbox keeps what cannot be sent now.
func (s *Supervisor) event(ctx context.Context, kind homeplanev1.InstanceEventKind, reason string, mod func(*homeplanev1.InstanceEvent)) {
	ev := vocab.Event(kind)
	ev.Time, ev.Reason, ev.Image = timestamp(s.now()), reason, s.spec().Image
	s.mu.Lock()
	ev.ContainerId = s.st.ContainerID
	s.mu.Unlock()
	if mod != nil {
		mod(ev)
	}
	s.log.Info("instance event", "kind", ev.GetKind(), "reason", reason, "container_id", shortID(ev.ContainerId))
	if s.pub == nil {
		return
	}
	if err := s.pub.Publish(context.WithoutCancel(ctx), topic.Events, ev); err != nil {
		s.log.Warn("instance event not published", "kind", ev.GetKind(), "error", err)
	}
}

func (s *Supervisor) spec() Spec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Spec
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
