package hasim

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

var hvacModes = []string{"off", "heat", "cool", "heat_cool", "auto", "dry", "fan_only"}

func climateSetTemperature(s *Server, st State, data map[string]any) ([]write, error) {
	_, hasT := data["temperature"]
	_, hasLow := data["target_temp_low"]
	_, hasHigh := data["target_temp_high"]
	if !hasT && !hasLow && !hasHigh {
		return nil, invalid("must contain at least one of temperature, target_temp_high, target_temp_low.")
	}
	if hasT && (hasLow || hasHigh) {
		return nil, invalid("two or more values in the same group of exclusion 'temperature' @ data[<temperature>]")
	}
	if hasLow != hasHigh {
		return nil, invalid("some but not all values in the same group of inclusion 'temperature' @ data[<temperature>]")
	}
	features := -1
	if f, ok := number(st.Attributes["supported_features"]); ok {
		features = int(f)
	}
	lo, hi := 7.0, 35.0
	if v, ok := number(st.Attributes["min_temp"]); ok {
		lo = v
	}
	if v, ok := number(st.Attributes["max_temp"]); ok {
		hi = v
	}
	a := cloneAttrs(st.Attributes)
	inRange := func(key string) (float64, error) {
		v, _, err := field(data, key)
		if err != nil {
			return 0, err
		}
		if v < lo || v > hi {
			return 0, &validationError{key: "temp_out_of_range",
				msg:          fmt.Sprintf("Provided temperature %v is not valid. Accepted range is %v to %v.", v, lo, hi),
				placeholders: map[string]string{"check_temp": fmt.Sprint(v), "min_temp": fmt.Sprint(lo), "max_temp": fmt.Sprint(hi)}}
		}
		return math.Round(v*10) / 10, nil
	}
	if hasT {
		if features >= 0 && features&1 == 0 {
			return nil, &validationError{key: "missing_target_temperature_entity_feature",
				msg: fmt.Sprintf("Set temperature action was used with the target temperature parameter but the entity does not support it, entity: %s", st.EntityID)}
		}
		t, err := inRange("temperature")
		if err != nil {
			return nil, err
		}
		a["temperature"] = t
	} else {
		if features >= 0 && features&2 == 0 {
			return nil, &validationError{key: "missing_target_temperature_range_entity_feature",
				msg: fmt.Sprintf("Set temperature action was used with the target temperature low/high parameter but the entity does not support it, entity: %s", st.EntityID)}
		}
		low, err := inRange("target_temp_low")
		if err != nil {
			return nil, err
		}
		high, err := inRange("target_temp_high")
		if err != nil {
			return nil, err
		}
		if low > high {
			return nil, &validationError{key: "low_temp_higher_than_high_temp",
				msg: "Target temperature low can not be higher than Target temperature high"}
		}
		a["target_temp_low"], a["target_temp_high"] = low, high
	}
	state := st.State
	if v, ok := data["hvac_mode"]; ok {
		mode, err := validHVACMode(st, v)
		if err != nil {
			return nil, err
		}
		state = mode
	}
	return []write{{state, a}}, nil
}

func validHVACMode(st State, v any) (string, error) {
	mode, _ := v.(string)
	if !slices.Contains(hvacModes, mode) {
		return "", invalid("value must be one of %v for dictionary value @ data['hvac_mode']", hvacModes)
	}
	if modes := stringList(st.Attributes["hvac_modes"]); modes != nil && !slices.Contains(modes, mode) {
		return "", &validationError{key: "not_valid_hvac_mode",
			msg: fmt.Sprintf("HVAC mode %s is not valid. Valid HVAC modes are: %s", mode, strings.Join(modes, ", "))}
	}
	return mode, nil
}

func climateSetMode(s *Server, st State, data map[string]any) ([]write, error) {
	mode, err := validHVACMode(st, data["hvac_mode"])
	if err != nil {
		return nil, err
	}
	if st.State != "off" && mode == "off" {
		s.memory[st.EntityID] = map[string]any{"hvac_mode": st.State}
	}
	return []write{{mode, st.Attributes}}, nil
}

func climateTurnOn(s *Server, st State, _ map[string]any) ([]write, error) {
	if st.State != "off" {
		return []write{{st.State, st.Attributes}}, nil
	}
	mode, _ := s.memory[st.EntityID]["hvac_mode"].(string)
	if mode == "" {
		for _, m := range stringList(st.Attributes["hvac_modes"]) {
			if m != "off" {
				mode = m
				break
			}
		}
	}
	if mode == "" {
		mode = "heat"
	}
	return []write{{mode, st.Attributes}}, nil
}

func climateTurnOff(s *Server, st State, _ map[string]any) ([]write, error) {
	return climateSetMode(s, st, map[string]any{"hvac_mode": "off"})
}

func climateToggle(s *Server, st State, data map[string]any) ([]write, error) {
	if st.State == "off" {
		return climateTurnOn(s, st, data)
	}
	return climateTurnOff(s, st, data)
}
