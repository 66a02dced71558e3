package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// formerBound and formerPrepareJSON are how prepare bounded and encoded
// the JSON values before it encoded each once; records prepared now must
// come out the same, or their content sums would differ from what the
// same record hashed to before.
func formerBound(v any, max int) (any, error) {
	if v == nil {
		return nil, nil
	}
	if m, ok := v.(map[string]any); ok && m == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return map[string]any{"truncated": true, "bytes": len(b)}, nil
	}
	clean := bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`))
	if _, ok := v.(map[string]any); ok {
		if bytes.Equal(clean, b) {
			return v, nil
		}
		var m map[string]any
		err := json.Unmarshal(clean, &m)
		return m, err
	}
	return json.RawMessage(clean), nil
}

// formerCanonical is CanonicalJSON as it was: encoded (a raw value
// compacted), decoded into generic values, encoded again.
func formerCanonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return roundTrip(b)
}

func formerPrepareJSON(t *testing.T, r Record, max int) Record {
	t.Helper()
	vals := []*any{new(any), &r.Executed, &r.Answer, new(any)}
	*vals[0], *vals[3] = r.Slots, r.Detail
	var js [4][]byte
	for i, v := range vals {
		b, err := formerBound(*v, max)
		if err != nil {
			t.Fatalf("former bound: %v", err)
		}
		*v = b
		if js[i], err = formerCanonical(b); err != nil {
			t.Fatalf("former canonical: %v", err)
		}
	}
	r.Slots, _ = (*vals[0]).(map[string]any)
	r.Detail, _ = (*vals[3]).(map[string]any)
	r.Executed, r.Answer = rawOrNil(js[1]), rawOrNil(js[2])
	r.Sum = contentSum(r, js)
	return r
}

func TestPrepareEncodesAsBefore(t *testing.T) {
	const max = 600
	w := &Writer{opts: Options{MaxTextLen: 4096, MaxJSONBytes: max}}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	long := strings.Repeat("<x>", 40) // near the limit once escaped
	var nilRaw json.RawMessage
	var nilSlice []string
	for name, r := range map[string]Record{
		"intent": {Slots: map[string]any{"area": "kitchen", "brightness": 50, "big": int64(1) << 60},
			Executed: []json.RawMessage{raw(`{"domain": "light", "service":"turn_on"}`), raw(`{"z":1, "a":[1.50,2e3]}`)},
			Answer:   raw(` {"ok": true, "home_assistant_us": "123", "calls": [ {"b":"<&>"} ]} `)},
		"one raw executed": {Executed: raw(`[{"domain":"light","service":"turn_on"},{"domain":"lock","service":"lock"}]`)},
		"nul":              {Slots: map[string]any{"name": "a\x00b"}, Answer: raw(`{"s":"a\u0000b","t":"\\u0000"}`), Detail: map[string]any{"x": "\x00"}},
		"empty map":        {Slots: map[string]any{}, Detail: map[string]any{}},
		"null raw":         {Answer: raw(`null`), Executed: nilRaw},
		"typed nil":        {Executed: nilSlice},
		"duplicates":       {Answer: raw(`{"a":1,"a":2,"\u0061":3}`)},
		"raw over limit":   {Answer: raw(`"` + strings.Repeat("y", max) + `"`)},
		"raw near limit":   {Answer: raw(`{"s":"` + long + long + long + long + `"}`)},
		"raw under limit":  {Answer: raw(`{"s":"` + long + `"}`)},
		"map over limit":   {Slots: map[string]any{"s": strings.Repeat("<", 200)}},
		"string over":      {Executed: strings.Repeat("x", 1000)},
		"any value":        {Executed: []any{map[string]any{"service": "light.turn_on"}}, Answer: map[string]any{"ok": true}},
		"security":         {Action: "Login", Detail: map[string]any{"email": "a@example.com", "n": 1.25}},
	} {
		t.Run(name, func(t *testing.T) {
			r.RequestID, r.Kind, r.Time = "req", KindIntent, time.Unix(1, 0)
			got, err := w.prepare(r)
			if err != nil {
				t.Fatal(err)
			}
			in := got
			in.Slots, in.Executed, in.Answer, in.Detail, in.Sum = r.Slots, r.Executed, r.Answer, r.Detail, nil
			want := formerPrepareJSON(t, in, max)
			if !bytes.Equal(got.Sum, want.Sum) {
				t.Errorf("content sum %x, before %x", got.Sum, want.Sum)
			}
			for field, gw := range map[string][2]any{
				"slots": {got.Slots, want.Slots}, "detail": {got.Detail, want.Detail},
				"executed": {got.Executed, want.Executed}, "answer": {got.Answer, want.Answer},
			} {
				if !reflect.DeepEqual(gw[0], gw[1]) {
					t.Errorf("%s: %s, before %s", field, show(gw[0]), show(gw[1]))
				}
			}
			// The encodings handed to the store are what it would make of
			// the maps.
			for field, enc := range map[string][2]any{"slots": {got.SlotsJSON, want.Slots}, "detail": {got.DetailJSON, want.Detail}} {
				m := enc[1].(map[string]any)
				var wantEnc []byte
				if m != nil {
					wantEnc, _ = json.Marshal(m)
				}
				if gotEnc := enc[0].(json.RawMessage); !bytes.Equal(gotEnc, wantEnc) || (gotEnc == nil) != (wantEnc == nil) {
					t.Errorf("%s encoded %q, the store would encode %q", field, gotEnc, wantEnc)
				}
			}
			// The sum is the one a reader computes from the stored values.
			if sum, err := ContentSum(got); err != nil || !bytes.Equal(sum, got.Sum) {
				t.Errorf("ContentSum of the prepared record %x, %v; prepare's %x", sum, err, got.Sum)
			}
		})
	}
}

func show(v any) string {
	if b, ok := v.(json.RawMessage); ok {
		return string(b)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
