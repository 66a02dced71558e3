package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procSample is one reading of a process from /proc.
type procSample struct {
	at    time.Time
	cpu   time.Duration // user + system so far
	rssKB int64
}

func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which may hold spaces, in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("malformed stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return s, err
	}
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb := strings.Fields(rest)
			if len(kb) > 0 {
				s.rssKB, _ = strconv.ParseInt(kb[0], 10, 64)
			}
		}
	}
	return s, nil
}

// ProcStats is a process's memory and CPU over a run.
type ProcStats struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	Samples    int     `json:"samples"`
	RSSFirstMB float64 `json:"rss_first_mib"`
	RSSLastMB  float64 `json:"rss_last_mib"`
	RSSMaxMB   float64 `json:"rss_max_mib"`
	// CPU in percent of one core: mean over the run and the busiest second.
	CPUMean float64 `json:"cpu_mean_percent"`
	CPUMax  float64 `json:"cpu_max_percent"`
}

// procWatch samples processes once a second. A pid can change (a restart);
// set replaces it, and CPU is summed across the incarnations.
type procWatch struct {
	mu    sync.Mutex
	procs map[string]*watched
	order []string
}

type watched struct {
	stats     ProcStats
	gone      bool // the pid exited; set starts watching the next one
	last      procSample
	cpuTotal  time.Duration
	wallTotal time.Duration
}

func newProcWatch() *procWatch { return &procWatch{procs: map[string]*watched{}} }

// set watches pid under name (0 stops watching until set again).
func (w *procWatch) set(name string, pid int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.procs[name]
	if !ok {
		p = &watched{stats: ProcStats{Name: name}}
		w.procs[name] = p
		w.order = append(w.order, name)
	}
	p.stats.PID = pid
	p.gone = pid <= 0
	p.last = procSample{}
}

func (w *procWatch) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		w.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *procWatch) sample() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.procs {
		if p.gone {
			continue
		}
		s, err := readProc(p.stats.PID)
		if err != nil {
			p.gone = true
			continue
		}
		mb := float64(s.rssKB) / 1024
		if p.stats.Samples == 0 {
			p.stats.RSSFirstMB = mb
		}
		p.stats.Samples++
		p.stats.RSSLastMB = mb
		p.stats.RSSMaxMB = max(p.stats.RSSMaxMB, mb)
		if !p.last.at.IsZero() {
			cpu, wall := s.cpu-p.last.cpu, s.at.Sub(p.last.at)
			p.cpuTotal += cpu
			p.wallTotal += wall
			if wall > 0 {
				p.stats.CPUMax = max(p.stats.CPUMax, 100*cpu.Seconds()/wall.Seconds())
			}
		}
		p.last = s
	}
}

// rss is the latest RSS of name in MiB.
func (w *procWatch) rss(name string) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.procs[name]; ok {
		return p.stats.RSSLastMB
	}
	return 0
}

func (w *procWatch) stats() []ProcStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ProcStats
	for _, name := range w.order {
		p := w.procs[name]
		s := p.stats
		if p.wallTotal > 0 {
			s.CPUMean = 100 * p.cpuTotal.Seconds() / p.wallTotal.Seconds()
		}
		out = append(out, s)
	}
	return out
}
