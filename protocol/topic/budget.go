package topic

// MaxPayload is the largest payload, in bytes, a message of kind k may carry.
// Central refuses larger ones (the broker refuses presence and Wills, which
// it keeps; central's intake drops and counts every kind), so that what
// agents send costs central a bounded amount of memory per home. An entity
// sync may fill a whole packet: it carries a home's full registry.
func MaxPayload(k Kind) int {
	switch k {
	case Presence:
		return 1 << 10
	case Entities:
		return 1 << 20
	case Command, Result:
		return 256 << 10
	case Telemetry, Events:
		return 64 << 10
	}
	return 0
}
