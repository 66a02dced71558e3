package spreadsheet_test

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/homeplane/homeplane/central/internal/spreadsheet"
)

func TestCell(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain email", "alice@example.com", "alice@example.com"},
		{"empty", "", ""},
		{"formula", "=1+2@x.test", "'=1+2@x.test"},
		{"plus", "+1", "'+1"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"inner equals", "a=b", "a=b"},
		{"number", "0.1234", "0.1234"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := spreadsheet.Cell(c.in); got != c.want {
				t.Fatalf("Cell(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := spreadsheet.NewWriter(&buf)
	if err := w.Write([]string{"=cmd|' /C calc'!A0", "ok, \"quoted\"", "@x"}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=cmd|' /C calc'!A0", "ok, \"quoted\"", "'@x"}
	if len(rows) != 1 || len(rows[0]) != len(want) {
		t.Fatalf("rows = %q", rows)
	}
	for i := range want {
		if rows[0][i] != want[i] {
			t.Fatalf("cell %d = %q, want %q", i, rows[0][i], want[i])
		}
	}
}
