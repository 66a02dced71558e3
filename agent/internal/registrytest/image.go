// Package registrytest is a small Docker Registry (HTTP API v2) for tests.
// It serves images exported from the local Docker Engine, so the engine can
// really pull them without the internet, and it can serve slowly or stall to
// exercise pull progress and stall detection.
package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
)

// Media types of a Docker image manifest, schema 2.
const (
	MediaManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaConfig   = "application/vnd.docker.container.image.v1+json"
	MediaLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Image is one image as a registry serves it.
type Image struct {
	Manifest       []byte
	ManifestDigest string
	ConfigDigest   string
	// Layers are the layer digests in order; LayerSizes their sizes.
	Layers     []string
	LayerSizes []int64
	blobs      map[string][]byte
}

// descriptor is a manifest's reference to a blob.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Digest    string `json:"digest"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// FromArchive turns the tar stream of `docker save` (one image; legacy or
// OCI layout, both carry manifest.json) into a registry image. Layers are
// gzipped with a random header comment: every export then has layer digests
// the engine has never seen, so it must download them rather than report
// "Already exists" from an earlier pull.
func FromArchive(r io.Reader) (*Image, error) {
	files, err := readTar(r)
	if err != nil {
		return nil, err
	}
	var saved []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &saved); err != nil {
		return nil, fmt.Errorf("registrytest: manifest.json: %w", err)
	}
	if len(saved) != 1 {
		return nil, fmt.Errorf("registrytest: archive holds %d images, want 1", len(saved))
	}
	img := &Image{blobs: map[string][]byte{}}
	config, ok := files[saved[0].Config]
	if !ok {
		return nil, fmt.Errorf("registrytest: config %s missing from the archive", saved[0].Config)
	}
	m := manifest{SchemaVersion: 2, MediaType: MediaManifest, Config: img.add(MediaConfig, config)}
	img.ConfigDigest = m.Config.Digest
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	for _, name := range saved[0].Layers {
		raw, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("registrytest: layer %s missing from the archive", name)
		}
		gz, err := compress(raw, hex.EncodeToString(salt))
		if err != nil {
			return nil, err
		}
		d := img.add(MediaLayer, gz)
		m.Layers = append(m.Layers, d)
		img.Layers = append(img.Layers, d.Digest)
		img.LayerSizes = append(img.LayerSizes, d.Size)
	}
	if img.Manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	img.ManifestDigest = digest(img.Manifest)
	return img, nil
}

func (img *Image) add(mediaType string, b []byte) descriptor {
	d := descriptor{MediaType: mediaType, Size: int64(len(b)), Digest: digest(b)}
	img.blobs[d.Digest] = b
	return d
}

// readTar reads every regular file of the archive, following the symlinks
// `docker save` uses for layers shared within the image.
func readTar(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	links := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("registrytest: read archive: %w", err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("registrytest: read %s: %w", h.Name, err)
			}
			files[h.Name] = b
		case tar.TypeSymlink:
			links[h.Name] = path.Join(path.Dir(h.Name), h.Linkname)
		}
	}
	for name, target := range links {
		if b, ok := files[target]; ok {
			files[name] = b
		}
	}
	return files, nil
}

// compress gzips a layer, unless it already is.
func compress(raw []byte, comment string) ([]byte, error) {
	if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
		return raw, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Comment = comment
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
