package hasim

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

var baseServices map[string]map[string]serviceSpec

func init() { baseServices = buildServices() }

func onOff(state string) handler {
	return func(_ *Server, st State, _ map[string]any) ([]write, error) {
		return []write{{state, st.Attributes}}, nil
	}
}

func toggle(on, off string) handler {
	return func(_ *Server, st State, _ map[string]any) ([]write, error) {
		if st.State == on {
			return []write{{off, st.Attributes}}, nil
		}
		return []write{{on, st.Attributes}}, nil
	}
}

func toggleSet() map[string]serviceSpec {
	return map[string]serviceSpec{
		"turn_on":  {apply: onOff("on")},
		"turn_off": {apply: onOff("off")},
		"toggle":   {apply: toggle("on", "off")},
	}
}

func buildServices() map[string]map[string]serviceSpec {
	return map[string]map[string]serviceSpec{
		"homeassistant": {
			"turn_on":  {extra: true, custom: homeassistantService("turn_on")},
			"turn_off": {extra: true, custom: homeassistantService("turn_off")},
			"toggle":   {extra: true, custom: homeassistantService("toggle")},
		},
		"light": {
			"turn_on":  {fields: lightOnFields, apply: (*Server).lightTurnOn},
			"turn_off": {fields: []string{"transition", "flash"}, apply: (*Server).lightTurnOff},
			"toggle":   {fields: lightOnFields, apply: (*Server).lightToggle},
		},
		"switch":        toggleSet(),
		"input_boolean": toggleSet(),
		"fan": {
			"turn_on":         {fields: []string{"percentage", "preset_mode"}, features: 32, apply: fanTurnOn},
			"turn_off":        {features: 16, apply: fanSet(0, false)},
			"toggle":          {features: 48, apply: fanToggle},
			"set_percentage":  {fields: []string{"percentage"}, required: []string{"percentage"}, features: 1, apply: fanTurnOn},
			"increase_speed":  {fields: []string{"percentage_step"}, features: 1, apply: fanStep(1)},
			"decrease_speed":  {fields: []string{"percentage_step"}, features: 1, apply: fanStep(-1)},
			"oscillate":       {fields: []string{"oscillating"}, required: []string{"oscillating"}, features: 2, apply: setAttr("oscillating", boolValue)},
			"set_direction":   {fields: []string{"direction"}, required: []string{"direction"}, features: 4, apply: setAttr("direction", oneOf("forward", "reverse"))},
			"set_preset_mode": {fields: []string{"preset_mode"}, required: []string{"preset_mode"}, anyOf: 1 | 8, apply: fanTurnOn},
		},
		"cover": {
			"open_cover":         {features: 1, apply: positionTo("open", 100)},
			"close_cover":        {features: 2, apply: positionTo("closed", 0)},
			"set_cover_position": {fields: []string{"position"}, required: []string{"position"}, features: 4, apply: setPosition("position")},
			"stop_cover":         {features: 8, apply: stopMoving},
			"toggle":             {anyOf: 1 | 2, apply: positionToggle},
		},
		"valve": {
			"open_valve":         {features: 1, apply: positionTo("open", 100)},
			"close_valve":        {features: 2, apply: positionTo("closed", 0)},
			"set_valve_position": {fields: []string{"position"}, required: []string{"position"}, features: 4, apply: setPosition("position")},
			"stop_valve":         {features: 8, apply: stopMoving},
			"toggle":             {anyOf: 1 | 2, apply: positionToggle},
		},
		"lock": {
			"lock":   {fields: []string{"code"}, apply: lockTo("locked")},
			"unlock": {fields: []string{"code"}, apply: lockTo("unlocked")},
			"open":   {fields: []string{"code"}, features: 1, apply: lockTo("open")},
		},
		"climate": {
			"set_temperature": {fields: []string{"temperature", "target_temp_low", "target_temp_high", "hvac_mode"}, anyOf: 1 | 2, apply: climateSetTemperature},
			"set_hvac_mode":   {fields: []string{"hvac_mode"}, required: []string{"hvac_mode"}, apply: climateSetMode},
			"turn_on":         {features: 256, apply: climateTurnOn},
			"turn_off":        {features: 128, apply: climateTurnOff},
			"toggle":          {features: 128 | 256, apply: climateToggle},
			"set_preset_mode": {fields: []string{"preset_mode"}, required: []string{"preset_mode"}, features: 16, apply: setAttr("preset_mode", listed("preset_modes"))},
			"set_fan_mode":    {fields: []string{"fan_mode"}, required: []string{"fan_mode"}, features: 8, apply: setAttr("fan_mode", listed("fan_modes"))},
			"set_humidity":    {fields: []string{"humidity"}, required: []string{"humidity"}, features: 4, apply: setAttr("humidity", numberIn(0, 100))},
		},
		"media_player": {
			"turn_on":              {features: 128, apply: onOff("on")},
			"turn_off":             {features: 256, apply: onOff("off")},
			"toggle":               {anyOf: 128 | 256, apply: toggle("on", "off")},
			"media_play":           {features: 16384, apply: onOff("playing")},
			"media_pause":          {features: 1, apply: onOff("paused")},
			"media_play_pause":     {features: 1, apply: toggle("paused", "playing")},
			"media_stop":           {features: 4096, apply: onOff("idle")},
			"media_next_track":     {features: 32, apply: track(1)},
			"media_previous_track": {features: 16, apply: track(-1)},
			"volume_set":           {fields: []string{"volume_level", "volume"}, features: 4, apply: volumeSet},
			"volume_mute":          {fields: []string{"is_volume_muted", "mute"}, features: 8, apply: volumeMute},
			"volume_up":            {anyOf: 4 | 1024, apply: volumeStep(0.1)},
			"volume_down":          {anyOf: 4 | 1024, apply: volumeStep(-0.1)},
		},
		"vacuum": {
			"start":          {features: 8192, apply: onOff("cleaning")},
			"pause":          {features: 4, apply: onOff("paused")},
			"stop":           {features: 8, apply: onOff("idle")},
			"return_to_base": {features: 16, apply: onOff("returning")},
			"locate":         {features: 512, apply: unchanged},
		},
		"scene": {
			"turn_on": {fields: []string{"transition"}, apply: sceneActivate},
		},
		"lawn_mower":          lawnMowerServices(),
		"todo":                todoServices(),
		"alarm_control_panel": alarmServices(),
		"humidifier":          humidifierServices(),
		"script": {
			"turn_on":  {fields: []string{"variables", "wait"}, apply: scriptRun},
			"turn_off": {apply: onOff("off")},
			"toggle":   {apply: scriptToggle},
		},
	}
}

func unchanged(_ *Server, st State, _ map[string]any) ([]write, error) {
	return []write{{st.State, st.Attributes}}, nil
}

type check func(st State, key string, v any) (any, error)

func setAttr(attr string, c check) handler {
	return func(_ *Server, st State, data map[string]any) ([]write, error) {
		v, err := c(st, attr, data[attr])
		if err != nil {
			return nil, err
		}
		a := cloneAttrs(st.Attributes)
		a[attr] = v
		return []write{{st.State, a}}, nil
	}
}

func boolValue(_ State, key string, v any) (any, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, invalid("expected boolean for dictionary value @ data['%s']", key)
	}
	return b, nil
}

func oneOf(vals ...string) check {
	return func(_ State, key string, v any) (any, error) {
		s, _ := v.(string)
		if !slices.Contains(vals, s) {
			return nil, invalid("value must be one of %v for dictionary value @ data['%s']", vals, key)
		}
		return s, nil
	}
}

func listed(listAttr string) check {
	return func(st State, key string, v any) (any, error) {
		s, _ := v.(string)
		if !slices.Contains(stringList(st.Attributes[listAttr]), s) {
			return nil, &validationError{key: "not_valid_" + key,
				msg: fmt.Sprintf("%s %s is not valid. Valid %s are: %s", key, s, listAttr, strings.Join(stringList(st.Attributes[listAttr]), ", "))}
		}
		return s, nil
	}
}

func numberIn(lo, hi float64) check {
	return func(_ State, key string, v any) (any, error) {
		f, ok := number(v)
		if !ok || f < lo || f > hi {
			return nil, invalid("value must be in range [%v, %v] for dictionary value @ data['%s']", lo, hi, key)
		}
		return f, nil
	}
}

func hasSetPosition(st State) bool {
	if _, ok := st.Attributes["current_position"]; ok {
		return true
	}
	f, _ := number(st.Attributes["supported_features"])
	return int(f)&4 != 0
}

func positionTo(state string, pos int) handler {
	return func(_ *Server, st State, _ map[string]any) ([]write, error) {
		a := cloneAttrs(st.Attributes)
		if hasSetPosition(st) {
			a["current_position"] = pos
		}
		return []write{{state, a}}, nil
	}
}

func setPosition(key string) handler {
	return func(_ *Server, st State, data map[string]any) ([]write, error) {
		p, _, err := fieldRange(data, key, 0, 100)
		if err != nil {
			return nil, err
		}
		state := "open"
		if p == 0 {
			state = "closed"
		}
		a := cloneAttrs(st.Attributes)
		a["current_position"] = int(math.Round(p))
		return []write{{state, a}}, nil
	}
}

func positionToggle(s *Server, st State, data map[string]any) ([]write, error) {
	if st.State == "closed" || st.State == "closing" {
		return positionTo("open", 100)(s, st, data)
	}
	return positionTo("closed", 0)(s, st, data)
}

// stopMoving stops a cover or valve where it is. The simulated ones move
// at once, so one at rest stays as it is; one an integration reported as
// opening or closing (a state written through the REST API) settles as core
// reports a stopped one: closed at position 0, open anywhere else, open
// when it reports no position (stopped on the way, it is not closed).
func stopMoving(_ *Server, st State, _ map[string]any) ([]write, error) {
	if st.State != "opening" && st.State != "closing" {
		return []write{{st.State, st.Attributes}}, nil
	}
	if p, ok := number(st.Attributes["current_position"]); ok && p == 0 {
		return []write{{"closed", st.Attributes}}, nil
	}
	return []write{{"open", st.Attributes}}, nil
}

func lockTo(state string) handler {
	return func(_ *Server, st State, data map[string]any) ([]write, error) {
		if format, ok := st.Attributes["code_format"].(string); ok && format != "" {
			code, _ := data["code"].(string)
			re, err := regexp.Compile("^(?:" + format + ")$")
			if err == nil && !re.MatchString(code) {
				return nil, &validationError{key: "add_default_code",
					msg: fmt.Sprintf("The code for %s doesn't match pattern %s", st.EntityID, format)}
			}
		}
		return []write{{state, st.Attributes}}, nil
	}
}

func fanSet(pct float64, on bool) handler {
	return func(s *Server, st State, _ map[string]any) ([]write, error) {
		a := cloneAttrs(st.Attributes)
		if !on {
			if p, ok := number(st.Attributes["percentage"]); ok && p > 0 {
				s.memory[st.EntityID] = map[string]any{"percentage": p}
			}
			if _, ok := a["percentage"]; ok || fanSpeed(st) {
				a["percentage"] = 0
			}
			return []write{{"off", a}}, nil
		}
		if fanSpeed(st) {
			a["percentage"] = pct
		}
		return []write{{"on", a}}, nil
	}
}

// fanSpeed reports whether a fan sets its speed (FanEntityFeature.SET_SPEED).
// A fan that reports no supported_features is taken as capable, as
// supports does, so set_percentage, which it lets through, sets the
// percentage instead of only turning the fan on.
func fanSpeed(st State) bool {
	f, ok := number(st.Attributes["supported_features"])
	return !ok || int(f)&1 != 0
}

func fanTurnOn(s *Server, st State, data map[string]any) ([]write, error) {
	a := cloneAttrs(st.Attributes)
	if v, ok := data["preset_mode"]; ok {
		p, err := listed("preset_modes")(st, "preset_mode", v)
		if err != nil {
			return nil, err
		}
		a["preset_mode"] = p
		return []write{{"on", a}}, nil
	}
	pct, set, err := fieldRange(data, "percentage", 0, 100)
	if err != nil {
		return nil, err
	}
	if !set {
		pct = 100
		if p, ok := number(s.memory[st.EntityID]["percentage"]); ok {
			pct = p
		}
	}
	if pct == 0 {
		return fanSet(0, false)(s, st, data)
	}
	return fanSet(math.Round(pct), true)(s, st, data)
}

func fanToggle(s *Server, st State, data map[string]any) ([]write, error) {
	if st.State == "on" {
		return fanSet(0, false)(s, st, data)
	}
	return fanTurnOn(s, st, map[string]any{})
}

func fanStep(sign float64) handler {
	return func(s *Server, st State, data map[string]any) ([]write, error) {
		step, set, err := fieldRange(data, "percentage_step", 0, 100)
		if err != nil {
			return nil, err
		}
		if !set {
			step = 100.0 / 3
			if v, ok := number(st.Attributes["percentage_step"]); ok && v > 0 {
				step = v
			}
		}
		cur, _ := number(st.Attributes["percentage"])
		if st.State != "on" {
			cur = 0
		}
		next := clamp(math.Round(cur+sign*step), 0, 100)
		return fanTurnOn(s, st, map[string]any{"percentage": next})
	}
}

func track(step int) handler {
	return func(_ *Server, st State, _ map[string]any) ([]write, error) {
		cur := 1.0
		if v, ok := number(st.Attributes["media_track"]); ok {
			cur = v
		}
		a := cloneAttrs(st.Attributes)
		a["media_track"] = max(1, int(cur)+step)
		return []write{{st.State, a}}, nil
	}
}

func volumeSet(_ *Server, st State, data map[string]any) ([]write, error) {
	key := "volume_level"
	if _, ok := data[key]; !ok {
		key = "volume"
	}
	if _, ok := data[key]; !ok {
		return nil, invalid("required key not provided @ data['volume_level']")
	}
	v, _, err := fieldRange(data, key, 0, 1)
	if err != nil {
		return nil, err
	}
	a := cloneAttrs(st.Attributes)
	a["volume_level"] = v
	return []write{{st.State, a}}, nil
}

func volumeMute(_ *Server, st State, data map[string]any) ([]write, error) {
	v, ok := data["is_volume_muted"]
	if !ok {
		v, ok = data["mute"]
	}
	b, isBool := v.(bool)
	if !ok || !isBool {
		return nil, invalid("required key not provided @ data['is_volume_muted']")
	}
	a := cloneAttrs(st.Attributes)
	a["is_volume_muted"] = b
	return []write{{st.State, a}}, nil
}

func volumeStep(step float64) handler {
	return func(_ *Server, st State, _ map[string]any) ([]write, error) {
		cur, ok := number(st.Attributes["volume_level"])
		if !ok {
			cur = 0.5
		}
		a := cloneAttrs(st.Attributes)
		a["volume_level"] = math.Round(clamp(cur+step, 0, 1)*100) / 100
		return []write{{st.State, a}}, nil
	}
}

func sceneActivate(s *Server, st State, _ map[string]any) ([]write, error) {
	return []write{{isoTime(s.now()), st.Attributes}}, nil
}

// scriptRun runs a script: the simulated scripts have no steps, so the entity
// goes on and straight back off, leaving last_triggered behind.
func scriptRun(s *Server, st State, _ map[string]any) ([]write, error) {
	a := cloneAttrs(st.Attributes)
	a["last_triggered"] = isoTime(s.now())
	if _, ok := a["mode"]; !ok {
		a["mode"] = "single"
	}
	on := cloneAttrs(a)
	on["current"] = 1
	a["current"] = 0
	return []write{{"on", on}, {"off", a}}, nil
}

func scriptToggle(s *Server, st State, data map[string]any) ([]write, error) {
	if st.State == "on" {
		return []write{{"off", st.Attributes}}, nil
	}
	return scriptRun(s, st, data)
}

func (s *Server) runScriptLocked(id string, c *callState) error {
	st, ok := s.states[id]
	if !ok {
		return errServiceNotFound
	}
	writes, _ := scriptRun(s, st.clone(), nil)
	for _, w := range writes {
		if _, changed := s.setStateLocked(id, w.state, w.attrs, false, c.ctx); changed {
			c.note(id)
		}
	}
	return nil
}
