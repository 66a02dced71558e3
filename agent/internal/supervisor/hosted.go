package supervisor

import (
	"context"
	"net"
	"strconv"
)

// HostedOptions are the options of one home hosted beside others.
func HostedOptions(o Options) Options { return o }

// PortHeld reports whether port is taken on this host.
func PortHeld(_ context.Context, _ Docker, port int) (bool, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return true, nil
	}
	l.Close()
	return false, nil
}
