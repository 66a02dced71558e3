package broker

// Endpoint is where agents connect, for the log: the bound address.
func (b *Broker) Endpoint() string {
	if a := b.Addr(); a != nil {
		return a.String()
	}
	return ""
}
