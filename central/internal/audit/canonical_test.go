package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// roundTrip is the definition of the canonical form: the generic round trip
// CanonicalJSON made before appendCanonical, kept to hold it to.
func roundTrip(raw []byte) ([]byte, error) {
	var g any
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, nil
	}
	return json.Marshal(g)
}

// canonicalCases are values whose canonical bytes are easy to get wrong;
// they also seed the fuzz test.
var canonicalCases = []string{
	`null`, ` null `, `true`, `false`, `0`, `-0`, `1`, `-1`, `""`, `{}`, `[]`, `[ ]`, `{ }`,
	`{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"d":1,"c":[3,{"z":1,"y":2}]},"b":null}`,
	`123456789012345`, `1234567890123456`, `12345678901234567890`, `-123456789012345678`,
	`1.0`, `1.50`, `1e3`, `1E+3`, `1e-7`, `0.000001`, `1e21`, `1e20`, `-1.5e-10`, `2.5e300`, `1e400`, `-1e400`,
	`"a<b>&c"`, `"é"`, `"\u00e9"`, "\"\u2028\u2029\"", `"\u2028"`, `"\ud800"`, `"tab\there"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0000"`, `"\u007f"`,
	"\"\xff\xfe\"", "{\"\xff\":1}", `{"<":1,">":2,"&":3,"a":4}`, `{"é":1,"e":2,"z":3}`,
	` { "a" : [ 1 , 2 ] , "b" : "x" } `, `[1,[2,[3,[4]]]]`, `{"a":[{"b":{}},{}]}`,
	`{"calls":[{"domain":"light","service":"turn_on","target":{"entity_id":["light.kitchen"]}}],"ok":true,"home_assistant_us":"1234"}`,
	``, `{`, `[1,]`, `{"a"}`, `nul`, `01`, `"unterminated`, `1 2`,
}

func TestAppendCanonicalMatchesRoundTrip(t *testing.T) {
	for _, in := range canonicalCases {
		t.Run(in, func(t *testing.T) { checkCanonical(t, []byte(in)) })
	}
}

func FuzzAppendCanonical(f *testing.F) {
	for _, in := range canonicalCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkCanonical(t, raw) })
}

func checkCanonical(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr := roundTrip(raw)
	got, err := CanonicalJSON(json.RawMessage(raw))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, the round trip's %v", raw, err, wantErr)
	}
	if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Fatalf("%q: canonical %q, the round trip gives %q", raw, got, want)
	}
	// Appending keeps what is there.
	if err == nil && want != nil {
		out, _, _ := appendCanonical([]byte("x"), raw)
		if string(out) != "x"+string(want) {
			t.Fatalf("%q: appended %q", raw, out)
		}
	}
}

// TestCanonicalJSONSortsAndCompacts checks the form itself, independently
// of the round trip.
func TestCanonicalJSONSortsAndCompacts(t *testing.T) {
	got, err := CanonicalJSON(json.RawMessage(` {"b": [1.50, "<"], "a": {"y": 1e2, "x": null}} `))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"x":null,"y":100},"b":[1.5,"\u003c"]}`; string(got) != want {
		t.Fatalf("canonical %s, want %s", got, want)
	}
	if _, err := CanonicalJSON(json.RawMessage(`{"a":1e999}`)); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("a number out of range: %v", err)
	}
}

// benchAnswer is an answer as a home sends it for "turn on the kitchen
// lights", in the protobuf JSON mapping.
const benchAnswer = `{"command_id":"Z3QJ5XK2M7PWA4RD","request_id":"01JEX3RZ8Q","ok":true,"changed":[` +
	`{"entity_id":"light.kitchen_ceiling","name":"Kitchen Ceiling","domain":"light","area_id":"kitchen","state":"on",` +
	`"attributes":{"supported_color_modes":["brightness"],"brightness":255},"last_changed":"2026-12-07T03:04:05.123456Z"},` +
	`{"entity_id":"light.kitchen_counter","name":"Kitchen Counter","domain":"light","area_id":"kitchen","state":"on",` +
	`"attributes":{"supported_color_modes":["brightness"],"brightness":255},"last_changed":"2026-12-07T03:04:05.123456Z"}],` +
	`"home_assistant_us":"1834"}`

// BenchmarkCanonicalJSON compares the one-pass canonical form with the
// generic round trip it replaced, on an answer of the usual size.
//
//	go test -run '^$' -bench CanonicalJSON -benchmem ./internal/audit/
func BenchmarkCanonicalJSON(b *testing.B) {
	raw := json.RawMessage(benchAnswer)
	for _, impl := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{
		{"round-trip", roundTrip},
		{"one-pass", func(raw []byte) ([]byte, error) { return CanonicalJSON(json.RawMessage(raw)) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := impl.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
