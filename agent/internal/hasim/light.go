package hasim

import (
	"math"
	"slices"
)

var lightOnFields = []string{"brightness", "brightness_pct", "brightness_step", "brightness_step_pct",
	"color_name", "rgb_color", "rgbw_color", "rgbww_color", "hs_color", "xy_color", "color_temp_kelvin",
	"color_temp", "kelvin", "white", "transition", "flash", "effect", "profile"}

var colourModes = []string{"hs", "rgb", "xy", "rgbw", "rgbww"}

// lightModel is the compact state a light's attributes are rendered from.
type lightModel struct {
	modes      []string
	on         bool
	mode       string
	brightness float64
	hs         [2]float64
	kelvin     float64
	minK, maxK float64
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (m *lightModel) colour() string {
	for _, c := range colourModes {
		if slices.Contains(m.modes, c) {
			return c
		}
	}
	return ""
}

func (m *lightModel) dimmable() bool {
	for _, c := range m.modes {
		if c != "onoff" && c != "unknown" {
			return true
		}
	}
	return false
}

// initialLightAttributes fills in the colour attributes a light reports;
// lights configured without supported_color_modes support colour and
// colour temperature.
func initialLightAttributes(state string, attrs map[string]any) map[string]any {
	if _, ok := attrs["supported_color_modes"]; !ok {
		attrs["supported_color_modes"] = []any{"color_temp", "hs"}
	}
	if _, ok := attrs["supported_features"]; !ok {
		attrs["supported_features"] = 0
	}
	m := loadLight(State{State: state, Attributes: normaliseAttrs(attrs)}, nil)
	return m.render(attrs)
}

func loadLight(st State, mem map[string]any) lightModel {
	a := st.Attributes
	m := lightModel{modes: stringList(a["supported_color_modes"]), on: st.State == "on", brightness: 255, minK: 2000, maxK: 6535}
	if len(m.modes) == 0 {
		m.modes = []string{"onoff"}
	}
	if v, ok := number(a["min_color_temp_kelvin"]); ok {
		m.minK = v
	}
	if v, ok := number(a["max_color_temp_kelvin"]); ok {
		m.maxK = v
	}
	src := a
	if !m.on {
		src = mem
	}
	if v, ok := number(src["brightness"]); ok && v > 0 {
		m.brightness = v
	}
	if s, ok := src["color_mode"].(string); ok && s != "" {
		m.mode = s
	}
	if hs, ok := src["hs_color"].([]any); ok && len(hs) == 2 {
		h, _ := number(hs[0])
		sat, _ := number(hs[1])
		m.hs = [2]float64{h, sat}
	}
	if v, ok := number(src["color_temp_kelvin"]); ok {
		m.kelvin = v
	}
	if m.mode == "" || !slices.Contains(m.modes, m.mode) {
		switch {
		case slices.Contains(m.modes, "color_temp"):
			m.mode = "color_temp"
		case m.colour() != "":
			m.mode = m.colour()
		case slices.Contains(m.modes, "brightness"):
			m.mode = "brightness"
		default:
			m.mode = m.modes[0]
		}
	}
	if m.kelvin == 0 {
		m.kelvin = clamp(4000, m.minK, m.maxK)
	}
	return m
}

// render produces the attributes core's LightEntity reports.
func (m lightModel) render(base map[string]any) map[string]any {
	a := cloneAttrs(base)
	a["supported_color_modes"] = m.modes
	ctSupported := slices.Contains(m.modes, "color_temp")
	colour := m.colour()
	for _, k := range []string{"color_mode", "brightness", "color_temp_kelvin", "color_temp", "hs_color", "rgb_color", "xy_color", "rgbw_color", "rgbww_color"} {
		delete(a, k)
	}
	a["color_mode"] = nil
	if m.dimmable() {
		a["brightness"] = nil
	}
	if ctSupported {
		a["color_temp_kelvin"] = nil
		a["color_temp"] = nil
		a["min_color_temp_kelvin"] = m.minK
		a["max_color_temp_kelvin"] = m.maxK
		a["min_mireds"] = math.Floor(1e6 / m.maxK)
		a["max_mireds"] = math.Ceil(1e6 / m.minK)
	}
	if ctSupported || colour != "" {
		a["hs_color"], a["rgb_color"], a["xy_color"] = nil, nil, nil
	}
	if slices.Contains(m.modes, "rgbw") {
		a["rgbw_color"] = nil
	}
	if slices.Contains(m.modes, "rgbww") {
		a["rgbww_color"] = nil
	}
	if !m.on {
		return a
	}
	a["color_mode"] = m.mode
	if m.dimmable() {
		a["brightness"] = int(m.brightness)
	}
	var hs [2]float64
	switch {
	case m.mode == "color_temp":
		a["color_temp_kelvin"] = int(m.kelvin)
		a["color_temp"] = int(math.Round(1e6 / m.kelvin))
		r, g, b := kelvinToRGB(m.kelvin)
		hs = rgbToHS(r, g, b)
	case slices.Contains(colourModes, m.mode):
		hs = m.hs
	default:
		return a
	}
	r, g, b := hsToRGB(hs[0], hs[1])
	a["hs_color"] = []any{round3(hs[0]), round3(hs[1])}
	a["rgb_color"] = []any{r, g, b}
	x, y := rgbToXY(r, g, b)
	a["xy_color"] = []any{x, y}
	if slices.Contains(m.modes, "rgbw") {
		a["rgbw_color"] = []any{r, g, b, 0}
	}
	if slices.Contains(m.modes, "rgbww") {
		a["rgbww_color"] = []any{r, g, b, 0, 0}
	}
	return a
}

func (s *Server) lightTurnOn(st State, data map[string]any) ([]write, error) {
	count := func(keys ...string) int {
		n := 0
		for _, k := range keys {
			if _, ok := data[k]; ok {
				n++
			}
		}
		return n
	}
	if count("brightness", "brightness_pct", "brightness_step", "brightness_step_pct") > 1 {
		return nil, invalid("two or more values in the same group of exclusion 'Brightness' @ data[<Brightness>]")
	}
	if count("color_name", "rgb_color", "rgbw_color", "rgbww_color", "hs_color", "xy_color", "color_temp_kelvin", "color_temp", "kelvin", "white", "profile") > 1 {
		return nil, invalid("two or more values in the same group of exclusion 'Color descriptors' @ data[<Color descriptors>]")
	}
	if f, ok := data["flash"]; ok && f != "short" && f != "long" {
		return nil, invalid("value must be one of ['long', 'short'] for dictionary value @ data['flash']")
	}
	if _, _, err := field(data, "transition"); err != nil {
		return nil, err
	}
	m := loadLight(st, s.memory[st.EntityID])
	wasOn := m.on
	m.on = true
	current := 0.0
	if wasOn {
		current = m.brightness
	}
	bri, briSet := 0.0, false
	if v, ok, err := field(data, "brightness"); err != nil {
		return nil, err
	} else if ok {
		bri, briSet = clamp(math.Round(v), 0, 255), true
	}
	if v, ok, err := fieldRange(data, "brightness_pct", 0, 100); err != nil {
		return nil, err
	} else if ok {
		bri, briSet = math.RoundToEven(255*v/100), true
	}
	if v, ok, err := field(data, "brightness_step"); err != nil {
		return nil, err
	} else if ok {
		bri, briSet = clamp(current+clamp(math.Round(v), -255, 255), 0, 255), true
	}
	if v, ok, err := field(data, "brightness_step_pct"); err != nil {
		return nil, err
	} else if ok {
		bri, briSet = clamp(current+math.RoundToEven(clamp(v, -100, 100)/100*255), 0, 255), true
	}
	if briSet && bri == 0 {
		return s.lightTurnOff(st, nil)
	}
	if briSet {
		m.brightness = bri
	}
	if err := m.applyColour(data); err != nil {
		return nil, err
	}
	return []write{{"on", m.render(st.Attributes)}}, nil
}

func (m *lightModel) applyColour(data map[string]any) error {
	colour := m.colour()
	setRGB := func(r, g, b float64) {
		if colour != "" {
			m.mode, m.hs = colour, rgbToHS(r, g, b)
		}
	}
	setKelvin := func(k float64) {
		if k <= 0 {
			return
		}
		switch {
		case slices.Contains(m.modes, "color_temp"):
			m.mode, m.kelvin = "color_temp", clamp(math.Round(k), m.minK, m.maxK)
		case colour != "":
			r, g, b := kelvinToRGB(k)
			m.mode, m.hs = colour, rgbToHS(r, g, b)
		}
	}
	if v, ok := data["color_name"]; ok {
		name, _ := v.(string)
		rgb, known := cssColours[normaliseColourName(name)]
		if !known {
			rgb = [3]float64{255, 255, 255}
		}
		setRGB(rgb[0], rgb[1], rgb[2])
	}
	for _, key := range []string{"rgb_color", "rgbw_color", "rgbww_color"} {
		if v, ok := data[key]; ok {
			c, err := byteTuple(v, map[string]int{"rgb_color": 3, "rgbw_color": 4, "rgbww_color": 5}[key], key)
			if err != nil {
				return err
			}
			setRGB(c[0], c[1], c[2])
		}
	}
	if v, ok := data["hs_color"]; ok {
		l, _ := v.([]any)
		if len(l) != 2 {
			return invalid("expected a list of two numbers for dictionary value @ data['hs_color']")
		}
		h, ok1 := number(l[0])
		sat, ok2 := number(l[1])
		if !ok1 || !ok2 || h < 0 || h > 360 || sat < 0 || sat > 100 {
			return invalid("value must be in range for dictionary value @ data['hs_color']")
		}
		if colour != "" {
			m.mode, m.hs = colour, [2]float64{h, sat}
		}
	}
	if v, ok := data["xy_color"]; ok {
		l, _ := v.([]any)
		if len(l) != 2 {
			return invalid("expected a list of two numbers for dictionary value @ data['xy_color']")
		}
		x, ok1 := number(l[0])
		y, ok2 := number(l[1])
		if !ok1 || !ok2 || x < 0 || x > 1 || y < 0 || y > 1 {
			return invalid("value must be in range for dictionary value @ data['xy_color']")
		}
		r, g, b := xyToRGB(x, y)
		setRGB(r, g, b)
	}
	if v, ok, err := field(data, "color_temp_kelvin"); err != nil {
		return err
	} else if ok {
		setKelvin(v)
	}
	if v, ok, err := field(data, "kelvin"); err != nil {
		return err
	} else if ok {
		setKelvin(v)
	}
	if v, ok, err := field(data, "color_temp"); err != nil {
		return err
	} else if ok && v > 0 {
		setKelvin(1e6 / v)
	}
	return nil
}

func byteTuple(v any, n int, key string) ([]float64, error) {
	l, _ := v.([]any)
	if len(l) != n {
		return nil, invalid("expected a list of %d integers for dictionary value @ data['%s']", n, key)
	}
	out := make([]float64, n)
	for i, x := range l {
		f, ok := number(x)
		if !ok || f < 0 || f > 255 {
			return nil, invalid("value must be in range [0, 255] for dictionary value @ data['%s']", key)
		}
		out[i] = math.Round(f)
	}
	return out, nil
}

func (s *Server) lightTurnOff(st State, data map[string]any) ([]write, error) {
	for k := range data {
		if k != "transition" && k != "flash" {
			return nil, invalid("extra keys not allowed @ data['%s']", k)
		}
	}
	if st.State == "on" {
		mem := map[string]any{}
		for _, k := range []string{"brightness", "color_mode", "hs_color", "color_temp_kelvin"} {
			mem[k] = st.Attributes[k]
		}
		s.memory[st.EntityID] = mem
	}
	m := loadLight(st, s.memory[st.EntityID])
	m.on = false
	return []write{{"off", m.render(st.Attributes)}}, nil
}

func (s *Server) lightToggle(st State, data map[string]any) ([]write, error) {
	if st.State == "on" {
		off := map[string]any{}
		for _, k := range []string{"transition", "flash"} {
			if v, ok := data[k]; ok {
				off[k] = v
			}
		}
		return s.lightTurnOff(st, off)
	}
	return s.lightTurnOn(st, data)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// rgbToHS follows color_RGB_to_hs: HSV hue in degrees and saturation in percent.
func rgbToHS(r, g, b float64) [2]float64 {
	r, g, b = r/255, g/255, b/255
	mx := max(r, g, b)
	mn := min(r, g, b)
	d := mx - mn
	var h, sat float64
	if mx > 0 {
		sat = d / mx
	}
	switch {
	case d == 0:
		h = 0
	case mx == r:
		h = math.Mod((g-b)/d, 6)
	case mx == g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	h *= 60
	if h < 0 {
		h += 360
	}
	return [2]float64{round3(h), round3(sat * 100)}
}

// hsToRGB follows color_hs_to_RGB: full value, channels rounded.
func hsToRGB(h, sat float64) (float64, float64, float64) {
	s := sat / 100
	c := s
	hp := math.Mod(h, 360) / 60
	x := c * (1 - math.Abs(math.Mod(hp, 2)-1))
	var r, g, b float64
	switch {
	case hp < 1:
		r, g, b = c, x, 0
	case hp < 2:
		r, g, b = x, c, 0
	case hp < 3:
		r, g, b = 0, c, x
	case hp < 4:
		r, g, b = 0, x, c
	case hp < 5:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	m := 1 - c
	return math.Round((r + m) * 255), math.Round((g + m) * 255), math.Round((b + m) * 255)
}

// rgbToXY follows color_RGB_to_xy without a gamut.
func rgbToXY(r, g, b float64) (float64, float64) {
	lin := func(c float64) float64 {
		c /= 255
		if c > 0.04045 {
			return math.Pow((c+0.055)/1.055, 2.4)
		}
		return c / 12.92
	}
	R, G, B := lin(r), lin(g), lin(b)
	X := R*0.664511 + G*0.154324 + B*0.162028
	Y := R*0.283881 + G*0.668433 + B*0.047685
	Z := R*0.000088 + G*0.072310 + B*0.986039
	if X+Y+Z == 0 {
		return 0, 0
	}
	return round3(X / (X + Y + Z)), round3(Y / (X + Y + Z))
}

func xyToRGB(x, y float64) (float64, float64, float64) {
	if y == 0 {
		return 255, 255, 255
	}
	Y := 1.0
	X := Y / y * x
	Z := Y / y * (1 - x - y)
	r := X*1.656492 - Y*0.354851 - Z*0.255038
	g := -X*0.707196 + Y*1.655397 + Z*0.036152
	b := X*0.051713 - Y*0.121364 + Z*1.011530
	gam := func(c float64) float64 {
		if c <= 0.0031308 {
			return 12.92 * c
		}
		return 1.055*math.Pow(c, 1/2.4) - 0.055
	}
	r, g, b = max(0, gam(r)), max(0, gam(g)), max(0, gam(b))
	mx := max(r, g, b, 1e-9)
	return math.Round(r / mx * 255), math.Round(g / mx * 255), math.Round(b / mx * 255)
}

// kelvinToRGB follows color_temperature_to_rgb.
func kelvinToRGB(k float64) (float64, float64, float64) {
	t := clamp(k, 1000, 40000) / 100
	var r, g, b float64
	if t <= 66 {
		r = 255
		g = 99.4708025861*math.Log(t) - 161.1195681661
	} else {
		r = 329.698727446 * math.Pow(t-60, -0.1332047592)
		g = 288.1221695283 * math.Pow(t-60, -0.0755148492)
	}
	switch {
	case t >= 66:
		b = 255
	case t <= 19:
		b = 0
	default:
		b = 138.5177312231*math.Log(t-10) - 305.0447927307
	}
	return math.Round(clamp(r, 0, 255)), math.Round(clamp(g, 0, 255)), math.Round(clamp(b, 0, 255))
}
