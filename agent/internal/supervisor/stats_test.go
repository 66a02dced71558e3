package supervisor

import (
	"math"
	"strings"
	"testing"
)

// A cgroup v2 one-shot answer as the Engine sends it (fields the agent does
// not read left in, precpu_stats zero as one-shot leaves it).
const statsV2 = `{"name":"/homeplane-ha","id":"4c18",
 "read":"2026-11-27T08:27:06Z","preread":"0001-01-01T00:00:00Z",
 "pids_stats":{"current":12,"limit":4096},
 "blkio_stats":{"io_service_bytes_recursive":[
   {"major":254,"minor":0,"op":"read","value":4096},
   {"major":254,"minor":0,"op":"write","value":8192},
   {"major":8,"minor":0,"op":"Read","value":100}],
   "io_serviced_recursive":null},
 "num_procs":0,"storage_stats":{},
 "cpu_stats":{"cpu_usage":{"total_usage":3000000000,"usage_in_kernelmode":1,"usage_in_usermode":2},
   "system_cpu_usage":20000000000,"online_cpus":2,
   "throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
 "precpu_stats":{"cpu_usage":{"total_usage":0},"throttling_data":{}},
 "memory_stats":{"usage":50000000,"limit":67108864,
   "stats":{"anon":30000000,"file":20000000,"inactive_file":15000000}},
 "networks":{"eth0":{"rx_bytes":1000,"rx_packets":3,"tx_bytes":500,"tx_packets":2},
   "eth1":{"rx_bytes":24,"tx_bytes":6}}}`

func TestTelemetryFromStats(t *testing.T) {
	st, err := decodeStats(strings.NewReader(statsV2))
	if err != nil {
		t.Fatal(err)
	}
	// 1 s of CPU time over 10 s of system time on 2 CPUs: 20 % of one core.
	prev := cpuSample{total: 2000000000, system: 10000000000}
	tm := telemetryFrom(st, prev)
	if math.Abs(tm.CpuPercent-20) > 1e-9 {
		t.Errorf("cpu = %v %%, want 20", tm.CpuPercent)
	}
	if tm.MemoryBytes != 35000000 || tm.MemoryLimitBytes != 67108864 {
		t.Errorf("memory = %d of %d, want usage minus inactive_file 35000000 of 67108864", tm.MemoryBytes, tm.MemoryLimitBytes)
	}
	if tm.NetworkRxBytes != 1024 || tm.NetworkTxBytes != 506 {
		t.Errorf("network rx %d tx %d, want sums 1024 and 506", tm.NetworkRxBytes, tm.NetworkTxBytes)
	}
	if tm.BlockReadBytes != 4196 || tm.BlockWriteBytes != 8192 {
		t.Errorf("block read %d write %d, want 4196 and 8192", tm.BlockReadBytes, tm.BlockWriteBytes)
	}
	if tm.Pids != 12 {
		t.Errorf("pids = %d, want 12", tm.Pids)
	}
}

func TestCPUPercentNeedsAPreviousSample(t *testing.T) {
	st, err := decodeStats(strings.NewReader(statsV2))
	if err != nil {
		t.Fatal(err)
	}
	for _, prev := range []cpuSample{
		{},                              // first sample: nothing to compare with
		{total: 3000000000, system: 1},  // no CPU time used
		{total: 4000000000, system: 1},  // counter went back (container restarted)
		{total: 1, system: 20000000000}, // no system time passed
	} {
		if got := cpuPercent(st, prev); got != 0 {
			t.Errorf("cpuPercent with previous %+v = %v, want 0", prev, got)
		}
	}
}

func TestCPUPercentCountsPerCPUUsageOnCgroupV1(t *testing.T) {
	const v1 = `{"cpu_stats":{"cpu_usage":{"total_usage":300,"percpu_usage":[100,100,50,50]},"system_cpu_usage":2000},
	 "memory_stats":{"usage":1000,"stats":{"total_inactive_file":400,"inactive_file":100}}}`
	st, err := decodeStats(strings.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	if got := cpuPercent(st, cpuSample{total: 200, system: 1000}); math.Abs(got-40) > 1e-9 {
		t.Errorf("cpu = %v %%, want 100/1000 × 4 CPUs × 100 = 40", got)
	}
	if got := memoryUsed(st.Memory.Usage, st.Memory.Stats); got != 600 {
		t.Errorf("memory = %d, want usage minus total_inactive_file = 600", got)
	}
}

func TestMemoryUsedKeepsUsageWhenCacheIsLarger(t *testing.T) {
	if got := memoryUsed(100, map[string]uint64{"inactive_file": 200}); got != 100 {
		t.Errorf("memory = %d, want the raw usage 100", got)
	}
	if got := memoryUsed(100, nil); got != 100 {
		t.Errorf("memory without stats = %d, want 100", got)
	}
}

func TestDecodeStatsRejectsBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"garbled":  `{"cpu_stats":`,
		"negative": `{"memory_stats":{"usage":-1}}`,
		"too big":  `{"name":"` + strings.Repeat("x", 2<<20) + `"}`,
	} {
		if _, err := decodeStats(strings.NewReader(body)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
