package hasim

import (
	"fmt"
	"math"
)

// humidifierModes is HumidifierEntityFeature.MODES.
const humidifierModes = 1

func humidifierServices() map[string]serviceSpec {
	return map[string]serviceSpec{
		"turn_on":      {apply: onOff("on")},
		"turn_off":     {apply: onOff("off")},
		"toggle":       {apply: toggle("on", "off")},
		"set_humidity": {fields: []string{"humidity"}, required: []string{"humidity"}, apply: humidifierSetHumidity},
		"set_mode": {fields: []string{"mode"}, required: []string{"mode"}, features: humidifierModes,
			apply: setAttr("mode", listed("available_modes"))},
	}
}

// humidifierSetHumidity validates the target against the entity's range
// (core raises ServiceValidationError humidity_out_of_range) and sets it.
func humidifierSetHumidity(_ *Server, st State, data map[string]any) ([]write, error) {
	h, _, err := fieldRange(data, "humidity", 0, 100)
	if err != nil {
		return nil, err
	}
	lo, hi := 0.0, 100.0
	if v, ok := number(st.Attributes["min_humidity"]); ok {
		lo = v
	}
	if v, ok := number(st.Attributes["max_humidity"]); ok {
		hi = v
	}
	if h < lo || h > hi {
		return nil, &validationError{key: "humidity_out_of_range",
			msg: fmt.Sprintf("Provided humidity %v is not valid. Accepted range is %v to %v", h, lo, hi)}
	}
	a := cloneAttrs(st.Attributes)
	a["humidity"] = int(math.Round(h))
	return []write{{st.State, a}}, nil
}
