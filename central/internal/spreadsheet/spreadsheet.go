// Package spreadsheet writes CSV that is safe to open in a spreadsheet: a
// cell that a spreadsheet would read as a formula (one starting with = + - @,
// a tab or a carriage return) is prefixed with a single quote, so that text
// chosen by a user, such as an email address or a spoken sentence, is shown
// as text and never evaluated (CWE-1236).
package spreadsheet

import (
	"encoding/csv"
	"io"
	"strings"
)

// Writer is a csv.Writer that escapes formula cells.
type Writer struct {
	w   *csv.Writer
	row []string
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: csv.NewWriter(w)}
}

// Write writes one row, each cell passed through Cell.
func (w *Writer) Write(record []string) error {
	w.row = w.row[:0]
	for _, c := range record {
		w.row = append(w.row, Cell(c))
	}
	return w.w.Write(w.row)
}

// Flush writes any buffered data; Error reports a failed write or flush.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }

// Cell returns s, prefixed with a single quote when a spreadsheet would
// otherwise take it for a formula. Numbers written by the caller never
// start with such a character unless negative; callers writing signed
// numbers accept the quote on negative ones.
func Cell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	return "'" + s
}
