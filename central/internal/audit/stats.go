package audit

import "time"

// HourStats sums up one hour of intent requests (IntentService.Process)
// for the dashboard's pictures.
type HourStats struct {
	Hour     time.Time
	Requests int64
	// NotOK counts requests whose outcome was not "ok": not understood,
	// refused, failed or an error.
	NotOK int64
	// P50US and P95US are latency percentiles in microseconds.
	P50US, P95US float64
}
