package hasim

// LawnMowerEntityFeature bits.
const (
	lawnMowerStartMowing = 1
	lawnMowerPause       = 2
	lawnMowerDock        = 4
)

// lawnMowerServices are core's lawn_mower services. The state is the
// entity's activity: mowing, docked, paused, returning or error. Each
// service takes no data besides the target and needs its feature bit; core
// answers a call on an entity lacking it with ServiceNotSupported. Like
// core's demo mower, the simulated one gets where it is sent at once: dock
// leaves it docked, where a real mower reports returning on its way.
func lawnMowerServices() map[string]serviceSpec {
	return map[string]serviceSpec{
		"start_mowing": {features: lawnMowerStartMowing, apply: onOff("mowing")},
		"pause":        {features: lawnMowerPause, apply: onOff("paused")},
		"dock":         {features: lawnMowerDock, apply: onOff("docked")},
	}
}
