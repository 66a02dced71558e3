//go:build race

package ingest_test

// raceEnabled scales the flood down under the race detector, which makes
// every byte copied many times dearer; the bound checked is the same.
const raceEnabled = true
