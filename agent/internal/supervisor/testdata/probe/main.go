// Command probe is the supervisor tests' network probe: run in a hosted
// container's network namespace, it exits 0 when it can open a TCP
// connection to its one argument within 3 seconds, 1 otherwise.
package main

import (
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		os.Exit(2)
	}
	c, err := net.DialTimeout("tcp", os.Args[1], 3*time.Second)
	if err != nil {
		os.Exit(1)
	}
	_ = c.Close()
}
