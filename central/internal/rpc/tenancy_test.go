package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// homeIDProcedures lists, from the generated descriptors, every procedure
// whose request names a home in a top-level home_id field, so an RPC added
// later is attacked here without anyone listing it.
func homeIDProcedures(tb testing.TB) map[string]protoreflect.MethodDescriptor {
	tb.Helper()
	out := map[string]protoreflect.MethodDescriptor{}
	protoregistry.GlobalFiles.RangeFilesByPackage("homeplane.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := sd.Methods().Get(j)
				if m.Input().Fields().ByName("home_id") != nil {
					out["/"+string(sd.FullName())+"/"+string(m.Name())] = m
				}
			}
		}
		return true
	})
	if len(out) < 10 {
		tb.Fatalf("found only %d procedures taking a home_id", len(out))
	}
	return out
}

// attackRequest fills md with home_id and every enum on its first real
// value and, with strings, every other string plausibly, so that one of the
// two passes validation and the handler has to look the home up.
func attackRequest(tb testing.TB, md protoreflect.MessageDescriptor, homeID string, strings bool) []byte {
	tb.Helper()
	msg := dynamicpb.NewMessage(md)
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.IsList() || f.IsMap() || f.ContainingOneof() != nil {
			continue
		}
		switch {
		case f.Name() == "home_id":
			msg.Set(f, protoreflect.ValueOfString(homeID))
		case f.Kind() == protoreflect.StringKind && !strings:
		case f.Kind() == protoreflect.StringKind && f.Name() == "text":
			msg.Set(f, protoreflect.ValueOfString("turn on the lights"))
		case f.Kind() == protoreflect.StringKind:
			msg.Set(f, protoreflect.ValueOfString("attack-"+string(f.Name())))
		case f.Kind() == protoreflect.EnumKind && f.Enum().Values().Len() > 1:
			msg.Set(f, protoreflect.ValueOfEnum(f.Enum().Values().Get(1).Number()))
		}
	}
	b, err := protojson.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestEveryHomeIDRPCHidesOtherHomes calls, as alice, every RPC that takes a
// home_id with bob's home and with a home that does not exist: both answer
// alike (NotFound; PermissionDenied for admin RPCs), and bob's home, its
// device and its enrollment are untouched.
func TestEveryHomeIDRPCHidesOtherHomes(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	bobDevice, bobToken, err := e.homes.RegisterDevice(ctx, e.bob.ID, e.bobHome.ID, "Bob's satellite", "hall")
	if err != nil {
		t.Fatal(err)
	}
	enrollToken, _, err := e.homes.CreateEnrollmentToken(ctx, e.bob.ID, e.bobHome.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	for proc, m := range homeIDProcedures(t) {
		t.Run(proc, func(t *testing.T) {
			want := "not_found"
			if policy[proc] == accessAdmin {
				want = "permission_denied"
			}
			// The first request shape that passes validation decides.
			var code, msg string
			var withStrings bool
			for _, withStrings = range []bool{false, true} {
				code, msg = e.rawCall(t, accessToken(e.alice), proc, m, attackRequest(t, m.Input(), e.bobHome.ID, withStrings))
				if code != "invalid_argument" {
					break
				}
			}
			if code == "unimplemented" {
				t.Fatalf("%s is declared but not served", proc)
			}
			if code != want {
				t.Fatalf("bob's home: code %q (%s), want %s", code, msg, want)
			}
			const missing = "00000000-0000-4000-8000-00000000dead"
			mcode, mmsg := e.rawCall(t, accessToken(e.alice), proc, m, attackRequest(t, m.Input(), missing, withStrings))
			if mcode != code || strings.ReplaceAll(mmsg, missing, "ID") != strings.ReplaceAll(msg, e.bobHome.ID, "ID") {
				t.Fatalf("someone else's home answers %s %q, a missing one %s %q", code, msg, mcode, mmsg)
			}
		})
	}
	got, err := e.homes.Get(ctx, e.bob.ID, e.bobHome.ID)
	if err != nil || got != e.bobHome {
		t.Errorf("bob's home changed: %+v, %v", got, err)
	}
	if d, err := e.homes.AuthenticateDevice(ctx, bobToken); err != nil || d.ID != bobDevice.ID {
		t.Errorf("bob's device token stopped working: %v", err)
	}
	if _, _, err := e.homes.Enroll(ctx, enrollToken, "host", "v1"); err != nil {
		t.Errorf("bob's enrollment token stopped working: %v", err)
	}
	if n := len(e.intents.Requests()); n != 0 {
		t.Errorf("engine ran %d requests for a home alice does not own", n)
	}
}

// rawCall calls proc with the bearer token (none when "") and a Connect JSON body (enveloped for a
// server stream) and returns the error code and message ("" on success).
func (e *testEnv) rawCall(t *testing.T, token, proc string, m protoreflect.MethodDescriptor, body []byte) (string, string) {
	t.Helper()
	contentType := "application/json"
	if m.IsStreamingServer() {
		contentType = "application/connect+json"
		env := make([]byte, 5, 5+len(body))
		binary.BigEndian.PutUint32(env[1:], uint32(len(body)))
		body = append(env, body...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+proc, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	type connectErr struct{ Code, Message string }
	if !m.IsStreamingServer() {
		var out connectErr
		if resp.StatusCode != http.StatusOK {
			_ = json.Unmarshal(raw, &out)
		}
		return out.Code, out.Message
	}
	// A stream ends with an envelope flagged 0x02 holding {"error": ...}.
	for len(raw) >= 5 {
		flags, n := raw[0], binary.BigEndian.Uint32(raw[1:5])
		if uint32(len(raw)-5) < n {
			break
		}
		if flags&0x02 != 0 {
			var end struct{ Error *connectErr }
			_ = json.Unmarshal(raw[5:5+n], &end)
			if end.Error != nil {
				return end.Error.Code, end.Error.Message
			}
			return "", ""
		}
		raw = raw[5+n:]
	}
	return "", ""
}

// TestStreamsAreGuarded: the interceptor guards streaming procedures as it
// does unary ones, before any handler runs.
func TestStreamsAreGuarded(t *testing.T) {
	e := newTestEnv(t)
	streams := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("homeplane.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				m := sd.Methods().Get(j)
				if !m.IsStreamingServer() {
					continue
				}
				streams++
				proc := "/" + string(sd.FullName()) + "/" + string(m.Name())
				for _, token := range []string{"", "garbage", "hpd_unknown"} {
					code, msg := e.rawCall(t, token, proc, m, attackRequest(t, m.Input(), e.aliceHome.ID, true))
					if policy[proc] != accessPublic && code != "unauthenticated" {
						t.Errorf("%s with token %q: code %q (%s), want unauthenticated", proc, token, code, msg)
					}
				}
			}
		}
		return true
	})
	if streams == 0 {
		t.Fatal("no streaming procedure found: WatchTimers should be one")
	}
}
