package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// archive is a minimal `docker save` stream: one image, one layer.
func archive(t testing.TB, config, layer []byte) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(b)
	}
	add("manifest.json", []byte(`[{"Config":"abc.json","RepoTags":["x:y"],"Layers":["l1/layer.tar"]}]`))
	add("abc.json", config)
	add("l1/layer.tar", layer)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func get(t testing.TB, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestServesAnExportedImage(t *testing.T) {
	config, layer := []byte(`{"rootfs":{"type":"layers"}}`), bytes.Repeat([]byte("layer "), 1000)
	img, err := FromArchive(archive(t, config, layer))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := FromArchive(archive(t, config, layer))
	if again.Layers[0] == img.Layers[0] || again.ConfigDigest != img.ConfigDigest {
		t.Error("two exports must differ in layer digests only")
	}
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Add("repo/hasim", "v1", img)
	base := "http://" + s.Host() + "/v2/"

	if resp, _ := get(t, "GET", base); resp.StatusCode != 200 {
		t.Fatalf("GET /v2/ = %d", resp.StatusCode)
	}
	resp, body := get(t, "GET", base+"repo/hasim/manifests/v1")
	if resp.Header.Get("Docker-Content-Digest") != img.ManifestDigest || resp.Header.Get("Content-Type") != MediaManifest || digest(body) != img.ManifestDigest {
		t.Fatalf("manifest: %v %q", resp.Header, body)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil || m.Config.Digest != digest(config) || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %v", body, err)
	}
	if resp, _ := get(t, "HEAD", base+"repo/hasim/manifests/"+img.ManifestDigest); resp.StatusCode != 200 {
		t.Errorf("manifest by digest = %d", resp.StatusCode)
	}
	if _, b := get(t, "GET", base+"repo/hasim/blobs/"+m.Config.Digest); !bytes.Equal(b, config) {
		t.Errorf("config blob %q", b)
	}
	_, gz := get(t, "GET", base+"repo/hasim/blobs/"+m.Layers[0].Digest)
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := io.ReadAll(zr); !bytes.Equal(raw, layer) || digest(gz) != m.Layers[0].Digest {
		t.Error("layer blob does not decompress to the exported layer")
	}
	if resp, _ := get(t, "GET", base+"repo/hasim/manifests/nope"); resp.StatusCode != 404 {
		t.Errorf("unknown tag = %d", resp.StatusCode)
	}
}

func TestStalledRequestIsHeldAndDropped(t *testing.T) {
	img, err := FromArchive(archive(t, []byte(`{}`), bytes.Repeat([]byte("x"), 4096)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Options{StallManifests: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Add("r", "v1", img)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Host()+"/v2/r/manifests/v1", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("stalled manifest answered %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stalled() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("held request not released after the client gave up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
