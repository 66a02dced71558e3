package supervisor

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/docker/docker/api/types/container"
)

// writeMarker puts a file into the config volume through the container.
func writeMarker(t testing.TB, f *fixture, text string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "marker", Mode: 0o644, Size: int64(len(text))})
	_, _ = tw.Write([]byte(text))
	_ = tw.Close()
	if err := f.docker.CopyToContainer(context.Background(), f.name, "/config", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatal(err)
	}
}

func readMarker(t testing.TB, f *fixture) string {
	t.Helper()
	rc, _, err := f.docker.CopyFromContainer(context.Background(), f.name, "/config/marker")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "marker" {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}
