package usage

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/spreadsheet"
)

// Rates price resource use.
type Rates struct {
	CPUCoreHour   float64
	MemoryGiBHour float64
	Intent        float64
	Currency      string
}

// ParseRates reads "cpu_core_hour=0.02,memory_gib_hour=0.005,intent=0.0001,currency=EUR";
// omitted prices are zero and the currency defaults to EUR.
func ParseRates(s string) (Rates, error) {
	r := Rates{Currency: "EUR"}
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return r, fmt.Errorf("%w: rate %q: want name=value", ErrInvalidInput, part)
		}
		if k == "currency" {
			if len(v) < 1 || len(v) > 8 {
				return r, fmt.Errorf("%w: currency %q", ErrInvalidInput, v)
			}
			r.Currency = v
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return r, fmt.Errorf("%w: rate %s=%q: want a non-negative number", ErrInvalidInput, k, v)
		}
		switch k {
		case "cpu_core_hour":
			r.CPUCoreHour = f
		case "memory_gib_hour":
			r.MemoryGiBHour = f
		case "intent":
			r.Intent = f
		default:
			return r, fmt.Errorf("%w: unknown rate %q (cpu_core_hour, memory_gib_hour, intent, currency)", ErrInvalidInput, k)
		}
	}
	return r, nil
}

// HomeUsage is one home's use in a period, as the report store sums it.
type HomeUsage struct {
	HomeID         string
	UserID         string
	Email          string
	CPUCoreHours   float64
	MemoryGiBHours float64
	Intents        int64
}

// Scope narrows usage to one user's homes, one home, or (both) one home
// of that user; empty fields do not narrow.
type Scope struct {
	UserID string
	HomeID string
}

// DayUsage is the use of the homes in a scope on one day (UTC).
type DayUsage struct {
	Day            time.Time
	CPUCoreHours   float64
	MemoryGiBHours float64
	Intents        int64
}

// ReportStore sums the rollups and the audited intents per home, and per
// day for a scope.
type ReportStore interface {
	HomeUsage(ctx context.Context, since, until time.Time) ([]HomeUsage, error)
	// DailyUsage returns the days of [since, until) with any use, oldest first.
	DailyUsage(ctx context.Context, since, until time.Time, s Scope) ([]DayUsage, error)
}

// Line is one line of the report: a home, or a user's total (HomeID empty).
type Line struct {
	UserID         string
	Email          string
	HomeID         string
	CPUCoreHours   float64
	MemoryGiBHours float64
	Intents        int64
	Price          float64
}

// MaxPeriod bounds a report's period.
const MaxPeriod = 366 * 24 * time.Hour

// Report prices the use of every home in [since, until), whole hours, and
// adds a total line per user after that user's homes.
func Report(ctx context.Context, store ReportStore, rates Rates, since, until time.Time) ([]Line, error) {
	since, until = since.UTC().Truncate(time.Hour), until.UTC().Truncate(time.Hour)
	if !until.After(since) || until.Sub(since) > MaxPeriod {
		return nil, fmt.Errorf("%w: the period must be between one hour and a year", ErrInvalidInput)
	}
	homes, err := store.HomeUsage(ctx, since, until)
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	sort.SliceStable(homes, func(i, j int) bool {
		if homes[i].Email != homes[j].Email {
			return homes[i].Email < homes[j].Email
		}
		return homes[i].HomeID < homes[j].HomeID
	})
	price := func(l *Line) {
		l.Price = round(l.CPUCoreHours*rates.CPUCoreHour+l.MemoryGiBHours*rates.MemoryGiBHour+float64(l.Intents)*rates.Intent, 4)
	}
	var lines []Line
	var total *Line
	flush := func() {
		if total != nil {
			price(total)
			lines = append(lines, *total)
		}
	}
	for _, h := range homes {
		if total == nil || total.UserID != h.UserID {
			flush()
			total = &Line{UserID: h.UserID, Email: h.Email}
		}
		l := Line{UserID: h.UserID, Email: h.Email, HomeID: h.HomeID, CPUCoreHours: h.CPUCoreHours,
			MemoryGiBHours: h.MemoryGiBHours, Intents: h.Intents}
		price(&l)
		lines = append(lines, l)
		total.CPUCoreHours += h.CPUCoreHours
		total.MemoryGiBHours += h.MemoryGiBHours
		total.Intents += h.Intents
	}
	flush()
	return lines, nil
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// WriteCSV writes lines as CSV with a header row. Cells a spreadsheet would
// take for a formula, such as an email starting with "=", are escaped.
func WriteCSV(w io.Writer, lines []Line, currency string) error {
	cw := spreadsheet.NewWriter(w)
	_ = cw.Write([]string{"user_id", "email", "home_id", "cpu_core_hours", "memory_gib_hours", "intents", "price", "currency"})
	for _, l := range lines {
		_ = cw.Write([]string{l.UserID, l.Email, l.HomeID,
			strconv.FormatFloat(l.CPUCoreHours, 'f', 4, 64), strconv.FormatFloat(l.MemoryGiBHours, 'f', 4, 64),
			strconv.FormatInt(l.Intents, 10), strconv.FormatFloat(l.Price, 'f', 4, 64), currency})
	}
	cw.Flush()
	return cw.Error()
}

// Reporter computes reports at fixed rates.
type Reporter struct {
	store ReportStore
	rates Rates
}

// NewReporter returns a Reporter on store.
func NewReporter(store ReportStore, rates Rates) *Reporter {
	return &Reporter{store: store, rates: rates}
}

// Report is Report at the Reporter's rates.
func (r *Reporter) Report(ctx context.Context, since, until time.Time) ([]Line, error) {
	return Report(ctx, r.store, r.rates, since, until)
}

// Day is the priced use of a scope on one day.
type Day struct {
	DayUsage
	Price float64
}

// MaxDays bounds the days of a daily series.
const MaxDays = 92

// Daily prices the use of the scope for each UTC day from since's day up
// to until, at most MaxDays; a day without use is there with zeros.
func (r *Reporter) Daily(ctx context.Context, since, until time.Time, s Scope) ([]Day, error) {
	if len(s.UserID) > 64 || len(s.HomeID) > 64 {
		return nil, fmt.Errorf("%w: user or home id too long", ErrInvalidInput)
	}
	since, until = since.UTC().Truncate(24*time.Hour), until.UTC()
	if !until.After(since) || until.Sub(since) > MaxDays*24*time.Hour {
		return nil, fmt.Errorf("%w: a daily series covers one to %d days", ErrInvalidInput, MaxDays)
	}
	got, err := r.store.DailyUsage(ctx, since, until, s)
	if err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	byDay := make(map[time.Time]DayUsage, len(got))
	for _, d := range got {
		byDay[d.Day.UTC()] = d
	}
	var out []Day
	for day := since; day.Before(until); day = day.Add(24 * time.Hour) {
		d := byDay[day]
		d.Day = day
		out = append(out, Day{DayUsage: d, Price: round(d.CPUCoreHours*r.rates.CPUCoreHour+
			d.MemoryGiBHours*r.rates.MemoryGiBHour+float64(d.Intents)*r.rates.Intent, 4)})
	}
	return out, nil
}

// Currency is the currency of the prices.
func (r *Reporter) Currency() string { return r.rates.Currency }
