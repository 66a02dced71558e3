package hasim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
)

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if !s.ready() {
		// Home Assistant answers every view with an empty 503 while not running.
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := s.wait(r.Context()); err != nil {
		return
	}
	p := r.URL.Path
	if p != "/api/websocket" && s.faultREST(w, r) {
		return
	}
	switch {
	case p == "/manifest.json":
		s.only(w, r, "GET", false, s.manifest)
	case p == "/api/onboarding":
		s.only(w, r, "GET", false, s.getOnboarding)
	case p == "/api/onboarding/users":
		s.only(w, r, "POST", false, s.postOnboardingUser)
	case p == "/auth/token":
		s.only(w, r, "POST", false, s.postToken)
	case p == "/api/websocket":
		s.only(w, r, "GET", false, s.serveWebSocket)
	case p == "/api/":
		s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, message("API running."))
		})
	case p == "/api/config":
		s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.configObject())
		})
	case p == "/api/core/state":
		s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"state": "RUNNING",
				"recorder_state": map[string]any{"migration_in_progress": false, "migration_is_live": false}})
		})
	case p == "/api/states":
		s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.States())
		})
	case strings.HasPrefix(p, "/api/states/") && !strings.Contains(p[len("/api/states/"):], "/"):
		id := p[len("/api/states/"):]
		switch r.Method {
		case "GET":
			s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) { s.getState(w, id) })
		case "POST":
			s.only(w, r, "POST", true, func(w http.ResponseWriter, r *http.Request) { s.postState(w, r, id) })
		case "DELETE":
			s.only(w, r, "DELETE", true, func(w http.ResponseWriter, _ *http.Request) { s.deleteState(w, id) })
		default:
			plain(w, http.StatusMethodNotAllowed)
		}
	case p == "/api/services":
		s.only(w, r, "GET", true, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, s.servicesREST())
		})
	case strings.HasPrefix(p, "/api/services/") && strings.Count(p, "/") == 4:
		rest := p[len("/api/services/"):]
		domain, service, _ := strings.Cut(rest, "/")
		s.only(w, r, "POST", true, func(w http.ResponseWriter, r *http.Request) { s.postService(w, r, domain, service) })
	default:
		plain(w, http.StatusNotFound)
	}
}

// only enforces the method and, for API views, the bearer token.
func (s *Server) only(w http.ResponseWriter, r *http.Request, method string, auth bool, h http.HandlerFunc) {
	if r.Method != method {
		plain(w, http.StatusMethodNotAllowed)
		return
	}
	if auth && !s.authorised(r.Header.Get("Authorization")) {
		plain(w, http.StatusUnauthorized)
		return
	}
	h(w, r)
}

// authorised splits the header on the first space and needs the exact
// scheme "Bearer", like core's auth middleware.
func (s *Server) authorised(header string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	return ok && scheme == "Bearer" && s.tokenOK(token)
}

func (s *Server) tokenOK(token string) bool {
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.Token)) == 1 {
		return true
	}
	return s.validAccessToken(token)
}

// plain writes aiohttp's plain-text error body, e.g. "401: Unauthorized".
func plain(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if code == http.StatusInternalServerError {
		_, _ = io.WriteString(w, "500 Internal Server Error\n\nServer got itself in trouble")
		return
	}
	_, _ = fmt.Fprintf(w, "%d: %s", code, http.StatusText(code))
}

func message(m string) map[string]string { return map[string]string{"message": m} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		plain(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (s *Server) manifest(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/manifest+json")
	_, _ = io.WriteString(w, `{"name":"Home Assistant","short_name":"Home Assistant","start_url":"/?homescreen=1","display":"standalone"}`)
}

func (s *Server) configObject() map[string]any {
	s.mu.Lock()
	loc, tz := s.config.LocationName, s.config.TimeZone
	s.mu.Unlock()
	components := slices.Sorted(func(yield func(string) bool) {
		for d := range baseServices {
			if !yield(d) {
				return
			}
		}
	})
	components = append(components, "api", "websocket_api", "config", "frontend")
	sort.Strings(components)
	return map[string]any{
		"allowlist_external_dirs": []string{"/config/www", "/media"},
		"allowlist_external_urls": []string{},
		"components":              components,
		"config_dir":              "/config",
		"config_source":           "storage",
		"country":                 nil,
		"currency":                "EUR",
		"debug":                   false,
		"elevation":               0,
		"external_url":            nil,
		"internal_url":            nil,
		"language":                "en",
		"latitude":                52.3731339,
		"longitude":               4.8903147,
		"location_name":           loc,
		"radius":                  100,
		"recovery_mode":           false,
		"safe_mode":               false,
		"state":                   "RUNNING",
		"time_zone":               tz,
		"unit_system": map[string]string{
			"length": "km", "accumulated_precipitation": "mm", "area": "m²", "mass": "g",
			"pressure": "Pa", "temperature": "°C", "volume": "L", "wind_speed": "m/s",
		},
		"version":                 s.opts.Version,
		"whitelist_external_dirs": []string{"/config/www", "/media"},
	}
}

func (s *Server) getState(w http.ResponseWriter, id string) {
	st, ok := s.State(id)
	if !ok {
		st, ok = s.State(strings.ToLower(id))
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, message("Entity not found."))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// readBody reads a bounded JSON body; empty means "no data".
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Server) postState(w http.ResponseWriter, r *http.Request, id string) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, message("Request body too large."))
		return
	}
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil || data == nil {
		writeJSON(w, http.StatusBadRequest, message("State data should be a JSON object"))
		return
	}
	rawState, ok := data["state"]
	if !ok {
		writeJSON(w, http.StatusBadRequest, message("No state attribute specified."))
		return
	}
	id = strings.ToLower(id)
	if !validEntityID(id) {
		writeJSON(w, http.StatusBadRequest, message("Invalid entity ID specified."))
		return
	}
	state, ok := rawState.(string)
	if !ok {
		b, _ := json.Marshal(rawState)
		state = string(b)
	}
	if len(state) > 255 {
		writeJSON(w, http.StatusBadRequest, message("Invalid state specified."))
		return
	}
	attrs, _ := data["attributes"].(map[string]any)
	if data["attributes"] != nil && attrs == nil {
		writeJSON(w, http.StatusBadRequest, message("State data should be a JSON object"))
		return
	}
	force, _ := data["force_update"].(bool)
	s.mu.Lock()
	_, existed := s.states[id]
	st, _ := s.setStateLocked(id, state, attrs, force, s.newContext(s.now()))
	st = st.clone()
	s.mu.Unlock()
	w.Header().Set("Location", "/api/states/"+id)
	code := http.StatusOK
	if !existed {
		code = http.StatusCreated
	}
	writeJSON(w, code, st)
}

func (s *Server) deleteState(w http.ResponseWriter, id string) {
	if !s.RemoveState(id) {
		writeJSON(w, http.StatusNotFound, message("Entity not found."))
		return
	}
	writeJSON(w, http.StatusOK, message("Entity removed."))
}

// serviceDescription is what /api/services reports per service.
func serviceDescription(domain string, spec serviceSpec) map[string]any {
	fields := map[string]any{}
	for _, f := range spec.fields {
		d := map[string]any{}
		if slices.Contains(spec.required, f) {
			d["required"] = true
		}
		fields[f] = d
	}
	out := map[string]any{"fields": fields}
	if spec.custom == nil || domain == "homeassistant" {
		out["target"] = map[string]any{"entity": []any{map[string]any{"domain": []string{domain}}}}
	}
	if spec.response == responseOptional {
		out["response"] = map[string]any{"optional": true}
	}
	return out
}

func (s *Server) servicesObject() map[string]map[string]any {
	s.mu.Lock()
	table := s.servicesLocked()
	s.mu.Unlock()
	out := map[string]map[string]any{}
	for d, svcs := range table {
		out[d] = map[string]any{}
		for name, spec := range svcs {
			out[d][name] = serviceDescription(d, spec)
		}
	}
	return out
}

func (s *Server) servicesREST() []any {
	obj := s.servicesObject()
	domains := make([]string, 0, len(obj))
	for d := range obj {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	out := make([]any, 0, len(domains))
	for _, d := range domains {
		out = append(out, map[string]any{"domain": d, "services": obj[d]})
	}
	return out
}

// postService follows core's APIDomainServicesView.post.
func (s *Server) postService(w http.ResponseWriter, r *http.Request, domain, service string) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, message("Request body too large."))
		return
	}
	var data map[string]any
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &data); err != nil {
			writeJSON(w, http.StatusBadRequest, message("Data should be valid JSON."))
			return
		}
	}
	_, returnResponse := r.URL.Query()["return_response"]
	s.mu.Lock()
	call, err := s.callServiceLocked(domain, service, data, returnResponse, false)
	var changed []State
	if err == nil {
		for _, id := range call.changed {
			if st, ok := s.states[id]; ok {
				changed = append(changed, st.clone())
			}
		}
	}
	s.mu.Unlock()
	var inv *invalidError
	switch {
	case err == nil:
	case errors.Is(err, errServiceNotFound), errors.As(err, &inv):
		plain(w, http.StatusBadRequest)
		return
	case errors.Is(err, errNoResponse):
		writeJSON(w, http.StatusBadRequest, message("Service does not support responses. Remove return_response from request."))
		return
	case errors.Is(err, errResponseRequired):
		writeJSON(w, http.StatusBadRequest, message("Service call requires responses but caller did not ask for responses. Add ?return_response to query parameters."))
		return
	default:
		s.log.Error("Error executing service", "domain", domain, "service", service, "err", err)
		plain(w, http.StatusInternalServerError)
		return
	}
	if changed == nil {
		changed = []State{}
	}
	if returnResponse {
		writeJSON(w, http.StatusOK, map[string]any{"changed_states": changed, "service_response": call.response})
		return
	}
	writeJSON(w, http.StatusOK, changed)
}
