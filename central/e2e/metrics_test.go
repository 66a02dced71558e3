package e2e

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// metricName is a Homeplane metric name as PromQL and exposition write it.
var metricName = regexp.MustCompile(`homeplane_[a-z0-9_]+`)

// exported returns the series names a /metrics page offers: each family's
// name and, for histograms and summaries, the series PromQL asks for.
func exported(page string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(page) {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		out[f[2]] = true
		switch f[3] {
		case "histogram":
			out[f[2]+"_bucket"], out[f[2]+"_sum"], out[f[2]+"_count"] = true, true, true
		case "summary":
			out[f[2]+"_sum"], out[f[2]+"_count"] = true, true
		}
	}
	return out
}

// TestProvisionedDashboardsUseExportedMetrics reads every metric the
// compose stack's Grafana dashboard and Prometheus rules name, and finds
// each on the /metrics of a running central to which a home has sent a
// resource sample (the per-home series exist only then).
func TestProvisionedDashboardsUseExportedMetrics(t *testing.T) {
	c := startCentral(t)
	homeID, user, pass := agentCreds(t, c, "metrics@example.com")
	cl, err := dial(t, c.mqttURL, user, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := proto.Marshal(&homeplanev1.Telemetry{Time: timestamppb.Now(), CpuPercent: 12.5, MemoryBytes: 300 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if tok := cl.Publish(topic.For(homeID, topic.Telemetry), 1, false, sample); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish the sample: %v", tok.Error())
	}
	scrape := func() string {
		resp, err := http.Get(c.metricsURL)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	var page string
	eventually(t, 15*time.Second, "the home's sample on /metrics", func() bool {
		page = scrape()
		return strings.Contains(page, `homeplane_central_home_cpu_cores{home_id="`+homeID+`"} 0.125`)
	})
	have := exported(page)
	for _, file := range []string{"../../deploy/grafana/homeplane-fleet.json", "../../deploy/prometheus/homeplane-rules.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		used := metricName.FindAllString(string(b), -1)
		if len(used) == 0 {
			t.Fatalf("%s names no Homeplane metric", file)
		}
		for _, m := range used {
			if !have[m] {
				t.Errorf("%s uses %s, which central does not export", file, m)
			}
		}
	}
}
