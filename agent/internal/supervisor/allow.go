package supervisor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// OfficialImages are the repositories Home Assistant publishes its container
// image under; with the configured image they are what the supervisor runs
// unless told otherwise.
var OfficialImages = []string{
	"ghcr.io/home-assistant/home-assistant",
	"docker.io/homeassistant/home-assistant",
}

// ErrImageNotAllowed is returned by Provision and Upgrade for an image whose
// repository is not in Options.AllowedImages: whoever commands the agent,
// central included, cannot run any other image on the home server.
var ErrImageNotAllowed = errors.New("supervisor: image repository not allowed")

// imagePolicy is the allow-list of image repositories.
type imagePolicy struct {
	any      bool
	exact    map[string]bool
	prefixes []string // "registry/namespace/", from entries ending in "/*"
	shown    string
}

// newImagePolicy reads entries: image references (a tag or digest is
// ignored: the repository is what is allowed), "name/*" for every
// repository under a name, or "*" for any image.
func newImagePolicy(entries []string) (imagePolicy, error) {
	p := imagePolicy{exact: map[string]bool{}}
	var names []string
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e == "*":
			p.any = true
			names = append(names, e)
			continue
		case strings.HasSuffix(e, "/*"):
			n, err := reference.ParseNormalizedNamed(strings.TrimSuffix(e, "/*"))
			if err != nil {
				errs = append(errs, fmt.Errorf("allowed image %q: %w", e, err))
				continue
			}
			p.prefixes = append(p.prefixes, n.Name()+"/")
			names = append(names, n.Name()+"/*")
			continue
		}
		n, err := reference.ParseNormalizedNamed(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowed image %q: %w", e, err))
			continue
		}
		p.exact[n.Name()] = true
		names = append(names, n.Name())
	}
	p.shown = strings.Join(names, ", ")
	return p, errors.Join(errs...)
}

// check returns nil when ref is an image reference whose repository is
// allowed, and an error wrapping ErrImageNotAllowed otherwise.
func (p imagePolicy) check(ref string) error {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("%w: %q is not an image reference", ErrImageNotAllowed, ref)
	}
	if p.any || p.exact[n.Name()] {
		return nil
	}
	for _, pre := range p.prefixes {
		if strings.HasPrefix(n.Name(), pre) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not one of %s", ErrImageNotAllowed, n.Name(), p.shown)
}

// CheckAllowedImages reports every entry of an allow-list that New would
// refuse, for checking configuration up front.
func CheckAllowedImages(entries []string) error {
	_, err := newImagePolicy(entries)
	return err
}
