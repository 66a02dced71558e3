package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/homeplane/homeplane/agent/internal/registrytest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// registryImage builds a hasim image reporting version, exports it and
// removes it from the engine again, so pulling it must go to a registry.
// A nonce label gives every call its own image id.
func registryImage(t testing.TB, f *fixture, version string) *registrytest.Image {
	t.Helper()
	tag := fmt.Sprintf("homeplane-hasim-test-%s:export-%s", runID, randHex())
	df := hasimDockerfile(version, "", fmt.Sprintf("io.homeplane.test.nonce=%q", randHex()))
	if err := buildImage(f.docker, tag, df, "hasim", hasimBinary); err != nil {
		t.Fatal(err)
	}
	ctx := f.ctx()
	rc, err := f.docker.ImageSave(ctx, []string{tag})
	if err != nil {
		t.Fatal(err)
	}
	img, err := registrytest.FromArchive(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.docker.ImageRemove(ctx, tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
		t.Fatal(err)
	}
	return img
}

// serve starts a registry with opts serving imgs as hasim:<tag> and
// returns the references to pull; pulled images are removed at cleanup.
func serve(t testing.TB, f *fixture, opts registrytest.Options, imgs map[string]*registrytest.Image) (*registrytest.Server, map[string]string) {
	t.Helper()
	reg, err := registrytest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	refs := map[string]string{}
	for tag, img := range imgs {
		refs[tag] = reg.Add("hasim-"+runID, tag, img)
	}
	t.Cleanup(func() {
		// An image a container still uses would only lose its tag.
		f.stop()
		cleanupDocker(t, f.docker, f.agentID)
		for _, ref := range refs {
			_, _ = f.docker.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
	return reg, refs
}

func pullReports(rec *recorder, ref string) []*homeplanev1.PullProgress {
	var out []*homeplanev1.PullProgress
	for _, e := range rec.events("pull_progress") {
		if e.Image == ref && e.Pull != nil {
			out = append(out, e.Pull)
		}
	}
	return out
}

// checkProgress asserts the reports of one pull climb and end Done with
// every byte of the image's layers.
func checkProgress(t testing.TB, reports []*homeplanev1.PullProgress, img *registrytest.Image) {
	t.Helper()
	var layerBytes int64
	for _, n := range img.LayerSizes {
		layerBytes += n
	}
	if len(reports) < 3 {
		t.Fatalf("%d pull progress reports, want a start, at least one during the download, and the end: %v", len(reports), reports)
	}
	midway := false
	for i, p := range reports {
		if i > 0 && (p.CurrentBytes < reports[i-1].CurrentBytes || p.Percent < reports[i-1].Percent) {
			t.Errorf("progress went back: %v after %v", p, reports[i-1])
		}
		if p.Done != (i == len(reports)-1) {
			t.Errorf("report %d of %d has done=%v", i+1, len(reports), p.Done)
		}
		if p.Percent > 0 && p.Percent < 100 && p.CurrentBytes > 0 && p.TotalBytes == uint64(layerBytes) {
			midway = true
		}
	}
	if !midway {
		t.Errorf("no report during the download (0 < percent < 100): %v", reports)
	}
	last := reports[len(reports)-1]
	if last.Percent != 100 || last.CurrentBytes != uint64(layerBytes) || last.TotalBytes != uint64(layerBytes) {
		t.Errorf("last report %v, want 100%% of %d bytes", last, layerBytes)
	}
}

func TestPullFromRegistry(t *testing.T) {
	f := newFixture(t)
	imgs := map[string]*registrytest.Image{
		"v1": registryImage(t, f, "2026.5.0"),
		"v2": registryImage(t, f, "2026.6.0"),
	}
	// Paced so each pull takes about three seconds and reports midway.
	reg, refs := serve(t, f, registrytest.Options{BytesPerSecond: int(imgs["v1"].LayerSizes[0] / 3)}, imgs)

	if err := f.sup.Provision(f.ctx(), Spec{Image: refs["v1"]}); err != nil {
		t.Fatal(err)
	}
	checkProgress(t, pullReports(f.rec, refs["v1"]), imgs["v1"])
	if st := f.waitHealthy(15 * time.Second); st.Version != "2026.5.0" {
		t.Errorf("version %s after provisioning from the registry, want 2026.5.0", st.Version)
	}

	if err := f.sup.Upgrade(f.ctx(), refs["v2"]); err != nil {
		t.Fatal(err)
	}
	checkProgress(t, pullReports(f.rec, refs["v2"]), imgs["v2"])
	if st := f.waitHealthy(15 * time.Second); st.Version != "2026.6.0" {
		t.Errorf("version %s after upgrading from the registry, want 2026.6.0", st.Version)
	}
	if !served(reg, "GET", imgs["v2"].Layers[0]) {
		t.Errorf("the v2 layer was never fetched: %v", reg.Requests())
	}

	// Present images need no registry: restart, provision again, and go
	// back to v1, all with the registry gone.
	reg.Close()
	reports := len(f.rec.events("pull_progress"))
	if err := f.sup.Restart(f.ctx()); err != nil {
		t.Fatalf("restart without the registry: %v", err)
	}
	f.waitHealthy(15 * time.Second)
	if err := f.sup.Provision(f.ctx(), Spec{Image: refs["v2"]}); err != nil {
		t.Fatalf("provision of a present image without the registry: %v", err)
	}
	if err := f.sup.Upgrade(f.ctx(), refs["v1"]); err != nil {
		t.Fatalf("upgrade to a present image without the registry: %v", err)
	}
	if st := f.waitHealthy(15 * time.Second); st.Version != "2026.5.0" {
		t.Errorf("version %s, want 2026.5.0", st.Version)
	}
	if n := len(f.rec.events("pull_progress")); n != reports {
		t.Errorf("%d pull reports with the images present, want none", n-reports)
	}
}

func served(reg *registrytest.Server, method, digest string) bool {
	for _, r := range reg.Requests() {
		if strings.HasPrefix(r, method+" ") && strings.HasSuffix(r, "/blobs/"+digest) {
			return true
		}
	}
	return false
}

func TestPullStallTimesOut(t *testing.T) {
	const stall = 2 * time.Second
	tests := []struct {
		name     string
		opts     registrytest.Options
		wantText string // how far the pull got, as the error says
	}{
		{name: "manifest never answered", opts: registrytest.Options{StallManifests: true}, wantText: "nothing received"},
		{name: "layer stops midway", opts: registrytest.Options{StallLayersAfter: 256 << 10}, wantText: " of "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(o *Options) { o.PullStallTimeout = stall })
			img := registryImage(t, f, "2026.7.0")
			reg, refs := serve(t, f, tc.opts, map[string]*registrytest.Image{"v1": img})

			start := time.Now()
			err := f.sup.Provision(f.ctx(), Spec{Image: refs["v1"]})
			took := time.Since(start)
			if !errors.Is(err, ErrPullStalled) {
				t.Fatalf("provision = %v, want ErrPullStalled", err)
			}
			t.Logf("error after %v: %v", took.Round(time.Millisecond), err)
			if took < stall || took > stall+20*time.Second {
				t.Errorf("stall detected after %v, want shortly after %v", took, stall)
			}
			for _, want := range []string{refs["v1"], stall.String(), tc.wantText} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if tc.opts.StallLayersAfter > 0 && !served(reg, "GET", img.Layers[0]) {
				t.Errorf("the layer was never requested: %v", reg.Requests())
			}
			if _, err := f.docker.ImageInspect(context.Background(), refs["v1"]); !isNotFound(err) {
				t.Errorf("image present after a stalled pull: %v", err)
			}
			if st := f.sup.Status(context.Background()); st.State != StateMissing {
				t.Errorf("state %s after a failed provision, want missing", st.State)
			}
			for _, p := range pullReports(f.rec, refs["v1"]) {
				if p.Done {
					t.Errorf("a stalled pull reported done: %v", p)
				}
			}
		})
	}
}
