package hasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

const (
	authTimeout  = 10 * time.Second
	maxPending   = 4096
	writeTimeout = 10 * time.Second
)

type wsConn struct {
	s      *Server
	c      *websocket.Conn
	out    chan []byte
	cancel context.CancelFunc
	lastID int64

	mu   sync.Mutex
	subs map[int64]*subscription
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(s.opts.MaxBodyBytes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := &wsConn{s: s, c: c, out: make(chan []byte, maxPending), cancel: cancel, subs: map[int64]*subscription{}}
	defer conn.unsubscribeAll()
	s.mu.Lock()
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()
	if !conn.authenticate(ctx) {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.writeLoop(ctx)
	}()
	conn.readLoop(ctx)
	cancel()
	<-done
	_ = c.Close(websocket.StatusNormalClosure, "")
}

func (c *wsConn) writeDirect(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.c.Write(wctx, websocket.MessageText, b)
}

// authenticate runs the auth phase: auth_required, then one auth message.
func (c *wsConn) authenticate(ctx context.Context) bool {
	if c.faultAuth(ctx) {
		return false
	}
	version := c.s.opts.Version
	if c.writeDirect(ctx, map[string]string{"type": "auth_required", "ha_version": version}) != nil {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, authTimeout)
	typ, data, err := c.c.Read(rctx)
	cancel()
	if err != nil || typ != websocket.MessageText {
		_ = c.c.Close(websocket.StatusPolicyViolation, "")
		return false
	}
	var msg map[string]any
	if json.Unmarshal(data, &msg) != nil {
		_ = c.c.Close(websocket.StatusPolicyViolation, "")
		return false
	}
	reject := func(m string) bool {
		_ = c.writeDirect(ctx, map[string]string{"type": "auth_invalid", "message": m})
		_ = c.c.Close(websocket.StatusNormalClosure, "")
		return false
	}
	token, isString := msg["access_token"].(string)
	_, hasPassword := msg["api_password"]
	switch {
	case msg == nil:
		return reject("Auth message incorrectly formatted: expected a dictionary")
	case msg["type"] != "auth":
		return reject("Auth message incorrectly formatted: value must be one of ['auth'] for dictionary value @ data['type']")
	case hasPassword && isString:
		return reject("Auth message incorrectly formatted: two or more values in the same group of exclusion 'api_password' @ data[<api_password>]")
	case !isString:
		return reject("Auth message incorrectly formatted: required key not provided @ data['access_token']")
	case !c.s.tokenOK(token):
		c.s.log.Warn("Login attempt or request with invalid authentication", "remote", "websocket")
		return reject("Invalid access token or password")
	}
	return c.writeDirect(ctx, map[string]string{"type": "auth_ok", "ha_version": version}) == nil
}

func (c *wsConn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-c.out:
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := c.c.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.cancel()
				return
			}
		}
	}
}

// send queues a message; a client that cannot keep up is disconnected, as
// Home Assistant does past its pending-message limit.
func (c *wsConn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("encode websocket message", "err", err)
		return
	}
	select {
	case c.out <- b:
	default:
		c.s.log.Error("Client unable to keep up with pending messages")
		c.cancel()
	}
}

func (c *wsConn) readLoop(ctx context.Context) {
	for {
		typ, data, err := c.c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			c.send(errorMsg(0, "invalid_format", "Message incorrectly formatted."))
			continue
		}
		if list, ok := raw.([]any); ok {
			for _, m := range list {
				c.handle(ctx, m)
			}
			continue
		}
		c.handle(ctx, raw)
	}
}

func resultMsg(id int64, result any) map[string]any {
	return map[string]any{"id": id, "type": "result", "success": true, "result": result}
}

func errorMsg(id int64, code, message string) map[string]any {
	return map[string]any{"id": id, "type": "result", "success": false, "error": map[string]any{"code": code, "message": message}}
}

func (c *wsConn) handle(ctx context.Context, raw any) {
	msg, ok := raw.(map[string]any)
	if !ok {
		c.send(errorMsg(0, "invalid_format", "Message incorrectly formatted."))
		return
	}
	num, isNum := msg["id"].(json.Number)
	id, err := num.Int64()
	typ, isStr := msg["type"].(string)
	if !isNum || err != nil || !isStr {
		echo := int64(0)
		if isNum && err == nil {
			echo = id
		}
		c.send(errorMsg(echo, "invalid_format", "Message incorrectly formatted."))
		return
	}
	if id <= c.lastID {
		c.send(errorMsg(id, "id_reuse", "Identifier values have to increase."))
		return
	}
	c.lastID = id
	if c.s.wait(ctx) != nil {
		return
	}
	if c.faultReply(ctx, id, typ) {
		return
	}
	cmd, ok := commands[typ]
	if !ok {
		c.send(errorMsg(id, "unknown_command", "Unknown command."))
		return
	}
	for k := range msg {
		if k != "id" && k != "type" && !slices.Contains(cmd.keys, k) {
			c.send(errorMsg(id, "invalid_format", fmt.Sprintf("extra keys not allowed @ data['%s']", k)))
			return
		}
	}
	cmd.run(c, id, msg)
	c.s.saveStates()
}

type command struct {
	keys []string
	run  func(c *wsConn, id int64, msg map[string]any)
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"supported_features": {keys: []string{"features"}, run: func(c *wsConn, id int64, _ map[string]any) { c.send(resultMsg(id, nil)) }},
		"ping":               {run: func(c *wsConn, id int64, _ map[string]any) { c.send(map[string]any{"id": id, "type": "pong"}) }},
		"get_states":         {run: func(c *wsConn, id int64, _ map[string]any) { c.send(resultMsg(id, c.s.States())) }},
		"get_config":         {run: func(c *wsConn, id int64, _ map[string]any) { c.send(resultMsg(id, c.s.configObject())) }},
		"get_services":       {run: func(c *wsConn, id int64, _ map[string]any) { c.send(resultMsg(id, c.s.servicesObject())) }},
		"call_service":       {keys: []string{"domain", "service", "service_data", "target", "return_response"}, run: (*wsConn).callService},
		"subscribe_events":   {keys: []string{"event_type"}, run: (*wsConn).subscribeEvents},
		"unsubscribe_events": {keys: []string{"subscription"}, run: (*wsConn).unsubscribeEvents},
		"config/area_registry/list": {run: func(c *wsConn, id int64, _ map[string]any) {
			c.send(resultMsg(id, c.s.areaRegistry()))
		}},
		"config/floor_registry/list": {run: func(c *wsConn, id int64, _ map[string]any) {
			c.send(resultMsg(id, c.s.floorRegistry()))
		}},
		"config/device_registry/list": {run: func(c *wsConn, id int64, _ map[string]any) {
			c.send(resultMsg(id, c.s.deviceRegistry()))
		}},
		"config/entity_registry/list": {run: func(c *wsConn, id int64, _ map[string]any) {
			c.send(resultMsg(id, c.s.entityRegistry()))
		}},
		"config/entity_registry/get_entries": {keys: []string{"entity_ids"}, run: (*wsConn).getEntries},
		"auth/long_lived_access_token":       {keys: []string{"client_name", "lifespan"}, run: (*wsConn).longLivedToken},
	}
}

func (c *wsConn) callService(id int64, msg map[string]any) {
	domain, ok1 := msg["domain"].(string)
	service, ok2 := msg["service"].(string)
	if !ok1 || !ok2 {
		c.send(errorMsg(id, "invalid_format", "required key not provided @ data['domain']"))
		return
	}
	data := map[string]any{}
	for _, key := range []string{"service_data", "target"} {
		v, present := msg[key]
		if !present || v == nil {
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			c.send(errorMsg(id, "invalid_format", fmt.Sprintf("expected dict for dictionary value @ data['%s']", key)))
			return
		}
		for k, v := range obj {
			data[k] = v
		}
	}
	returnResponse := false
	if v, present := msg["return_response"]; present {
		b, ok := v.(bool)
		if !ok {
			c.send(errorMsg(id, "invalid_format", "expected bool for dictionary value @ data['return_response']"))
			return
		}
		returnResponse = b
	}
	data = normaliseAttrs(data) // json.Number → float64
	c.s.mu.Lock()
	call, err := c.s.callServiceLocked(domain, service, data, returnResponse, true)
	c.s.mu.Unlock()
	var inv *invalidError
	var val *validationError
	switch {
	case err == nil:
		result := map[string]any{"context": call.ctx}
		if returnResponse {
			result["response"] = call.response
		}
		c.send(resultMsg(id, result))
	case errors.Is(err, errServiceNotFound):
		m := errorMsg(id, "not_found", fmt.Sprintf("Service %s.%s not found.", domain, service))
		e := m["error"].(map[string]any)
		e["translation_key"] = "service_not_found"
		e["translation_domain"] = "homeassistant"
		e["translation_placeholders"] = map[string]string{"domain": domain, "service": service}
		c.send(m)
	case errors.As(err, &inv):
		c.send(errorMsg(id, "invalid_format", inv.msg))
	case errors.As(err, &val):
		m := errorMsg(id, "service_validation_error", "Validation error: "+val.msg)
		e := m["error"].(map[string]any)
		e["translation_key"] = val.key
		e["translation_domain"] = domain
		e["translation_placeholders"] = val.placeholders
		c.send(m)
	case errors.Is(err, errNoResponse):
		c.send(errorMsg(id, "service_validation_error",
			"Validation error: An action which does not return responses can't be called with return_response=True"))
	default:
		c.send(errorMsg(id, "home_assistant_error", err.Error()))
	}
}

func (c *wsConn) subscribeEvents(id int64, msg map[string]any) {
	eventType := ""
	if v, ok := msg["event_type"]; ok {
		s, isStr := v.(string)
		if !isStr {
			c.send(errorMsg(id, "invalid_format", "expected str for dictionary value @ data['event_type']"))
			return
		}
		eventType = s
	}
	sub := &subscription{eventType: eventType, deliver: func(ev Event) {
		c.send(map[string]any{"id": id, "type": "event", "event": ev})
	}}
	// The result goes out before any event: both are queued under the
	// state machine's lock.
	c.s.mu.Lock()
	c.s.subs[sub] = struct{}{}
	c.send(resultMsg(id, nil))
	c.s.mu.Unlock()
	c.mu.Lock()
	c.subs[id] = sub
	c.mu.Unlock()
}

func (c *wsConn) unsubscribeEvents(id int64, msg map[string]any) {
	num, _ := msg["subscription"].(json.Number)
	subID, err := num.Int64()
	if err != nil {
		c.send(errorMsg(id, "invalid_format", "expected int for dictionary value @ data['subscription']"))
		return
	}
	c.mu.Lock()
	sub, ok := c.subs[subID]
	delete(c.subs, subID)
	c.mu.Unlock()
	if !ok {
		c.send(errorMsg(id, "not_found", "Subscription not found."))
		return
	}
	c.s.unsubscribe(sub)
	c.send(resultMsg(id, nil))
}

func (c *wsConn) unsubscribeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sub := range c.subs {
		c.s.unsubscribe(sub)
		delete(c.subs, id)
	}
}

func (c *wsConn) getEntries(id int64, msg map[string]any) {
	list, ok := msg["entity_ids"].([]any)
	if !ok {
		c.send(errorMsg(id, "invalid_format", "required key not provided @ data['entity_ids']"))
		return
	}
	ids := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			c.send(errorMsg(id, "invalid_format", "expected str @ data['entity_ids'][0]"))
			return
		}
		ids = append(ids, s)
	}
	c.send(resultMsg(id, c.s.entityEntries(ids)))
}
