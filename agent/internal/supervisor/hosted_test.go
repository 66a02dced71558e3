package supervisor

import (
	"context"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// TestHostedNetworkCreatedOnce: the homes one agent hosts start together,
// each making sure of the shared network; the engine's duplicate check is
// best effort, and two networks of one name start no container by name.
func TestHostedNetworkCreatedOnce(t *testing.T) {
	d, _ := needDocker(t)
	name := "homeplane-hosted-once-" + runID
	t.Cleanup(func() {
		list, _ := d.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		for _, n := range list {
			_ = d.NetworkRemove(context.Background(), n.ID)
		}
	})
	const homes = 8
	ids := make([]string, homes)
	var wg sync.WaitGroup
	for i := range homes {
		wg.Go(func() {
			s := &Supervisor{d: d, opts: Options{Network: name}}
			id, err := s.ensureNetwork(context.Background())
			if err != nil {
				t.Errorf("home %d: %v", i, err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	list, err := d.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d networks named %s, want 1", len(list), name)
	}
	for i, id := range ids {
		if id != list[0].ID {
			t.Errorf("home %d was given network %q, want %q", i, id, list[0].ID)
		}
	}
}
