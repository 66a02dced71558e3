package metrics

import (
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"time"
)

// RegisterRuntime adds the Go runtime and process figures under the names
// the Prometheus client uses, so that dashboards read agents and central alike.
func (r *Registry) RegisterRuntime() {
	r.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", func() float64 {
		return float64(runtime.NumGoroutine())
	})
	r.GaugeFunc("go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", func() float64 {
		return readRuntime("/memory/classes/heap/objects:bytes")
	})
	r.GaugeFunc("go_memstats_sys_bytes", "Bytes of memory obtained from the OS.", func() float64 {
		return readRuntime("/memory/classes/total:bytes")
	})
	r.CounterFunc("go_gc_cycles_total", "Completed GC cycles.", func() float64 {
		return readRuntime("/gc/cycles/total:gc-cycles")
	})
	start := float64(time.Now().UnixNano()) / 1e9
	r.GaugeFunc("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", func() float64 {
		return start
	})
	r.CounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", processCPU)
	r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.", processRSS)
}

func readRuntime(name string) float64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	switch s[0].Value.Kind() {
	case metrics.KindUint64:
		return float64(s[0].Value.Uint64())
	case metrics.KindFloat64:
		return s[0].Value.Float64()
	}
	return 0
}

// clockTicks is USER_HZ, which Linux fixes at 100 for the /proc files.
const clockTicks = 100

func processCPU() float64 { return CPUSeconds("/proc/self/stat") }

// CPUSeconds reads utime plus stime from a /proc/PID/stat file; 0 where
// there is no /proc.
func CPUSeconds(statPath string) float64 {
	b, err := os.ReadFile(statPath)
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields count from
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return float64(utime+stime) / clockTicks
}

// processRSS reads the resident pages from /proc/self/statm.
func processRSS() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return float64(pages) * float64(os.Getpagesize())
}
