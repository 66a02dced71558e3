package web

import (
	"crypto/rand"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/usage"
)

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"ms": func(us int64) string { return fmt.Sprintf("%.1f ms", float64(us)/1000) },
	"f2": func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"f4": func(v float64) string { return fmt.Sprintf("%.4f", v) },
}

func (s *Server) page(sess session, title, nav string) map[string]any {
	return map[string]any{"Title": title, "Nav": nav, "CSRF": sess.csrf, "Admin": sess.claims.UserID}
}

// fleetRow is one home on the fleet page.
type fleetRow struct {
	admin.FleetHome
	Online   bool
	LastSeen time.Time
	Instance *homeplanev1.Instance
	CPU, Mem template.HTML
	CPUNow   string
	MemNow   string
}

// Page sizes of the fleet and users pages; each page links to the next.
const (
	fleetPageRows = 200
	usersPageRows = 100
)

// nextPage returns the link to the page after the one shown, or "" when
// there is none: a page asks for one row more than it shows to know.
func nextPage(r *http.Request, more bool, after string) string {
	if !more {
		return ""
	}
	q := r.URL.Query()
	q.Set("after", after)
	return r.URL.Path + "?" + q.Encode()
}

func (s *Server) fleet(w http.ResponseWriter, r *http.Request, sess session) {
	span, err := fleet.RangeNamed(r.FormValue("range"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	homes, err := s.deps.Operators.Homes(r.Context(), r.FormValue("after"), fleetPageRows+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	more := len(homes) > fleetPageRows
	homes = homes[:min(len(homes), fleetPageRows)]
	rows := make([]fleetRow, 0, len(homes))
	online := 0
	for _, h := range homes {
		row := fleetRow{FleetHome: h, CPUNow: "–", MemNow: "–"}
		if s.deps.Presence != nil {
			row.Online = s.deps.Presence.Online(h.Home.ID)
			row.LastSeen, _ = s.deps.Presence.LastSeen(h.Home.ID)
		}
		if row.Online {
			online++
		}
		if s.deps.Instances != nil {
			row.Instance, _ = s.deps.Instances.Instance(h.Home.ID)
		}
		if s.deps.Samples != nil {
			samples := s.deps.Samples.Recent(h.Home.ID)
			cpu := make([]float64, len(samples))
			mem := make([]float64, len(samples))
			for i, x := range samples {
				cpu[i], mem[i] = x.CPUPercent, float64(x.MemoryBytes)/(1<<20)
			}
			row.CPU, row.Mem = sparkline(cpu, "cpu"), sparkline(mem, "mem")
			if n := len(samples); n > 0 {
				row.CPUNow = fmt.Sprintf("%.1f%%", cpu[n-1])
				row.MemNow = fmt.Sprintf("%.0f MiB", mem[n-1])
			}
		}
		rows = append(rows, row)
	}
	data := s.page(sess, "Fleet", "fleet")
	data["Homes"], data["Online"], data["Total"] = rows, online, len(rows)
	if more {
		data["Next"] = nextPage(r, more, homes[len(homes)-1].Home.ID)
	}
	data["Paged"] = more || r.FormValue("after") != ""
	if s.deps.Fleet != nil {
		if data["Charts"], err = s.fleetCharts(r.Context(), span); err != nil {
			s.fail(w, r, err)
			return
		}
		ranges := make([]map[string]any, len(fleet.Ranges))
		for i, fr := range fleet.Ranges {
			ranges[i] = map[string]any{"Name": fr.Name, "On": fr.Name == span.Name, "URL": "/admin/?range=" + fr.Name}
		}
		data["Ranges"] = ranges
	}
	s.render(w, r, "fleet", http.StatusOK, data)
}

// sparkline draws values as a small inline SVG line chart, scaled to its own maximum.
func sparkline(values []float64, class string) template.HTML {
	const width, height = 120.0, 28.0
	if len(values) < 2 {
		return template.HTML(`<svg class="spark ` + class + `" width="120" height="28" role="img" aria-label="no data yet"><line x1="0" y1="27" x2="120" y2="27"/></svg>`)
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	if top == 0 {
		top = 1
	}
	var pts strings.Builder
	for i, v := range values {
		x := float64(i) / float64(len(values)-1) * width
		y := height - 1 - v/top*(height-2)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	// Only numbers go into the markup, so it is safe as HTML.
	return template.HTML(fmt.Sprintf(`<svg class="spark %s" width="120" height="28" viewBox="0 0 120 28" role="img" aria-label="peak %.1f"><polyline points="%s"/></svg>`,
		class, top, strings.TrimSpace(pts.String())))
}

func (s *Server) users(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.FormValue("q")
	users, err := s.deps.Operators.Users(r.Context(), q, r.FormValue("after"), usersPageRows+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	more := len(users) > usersPageRows
	users = users[:min(len(users), usersPageRows)]
	data := s.page(sess, "Users", "users")
	data["Users"], data["Query"], data["Notice"] = users, q, userNotices[r.FormValue("done")]
	if more {
		data["Next"] = nextPage(r, more, users[len(users)-1].Email)
	}
	s.render(w, r, "users", http.StatusOK, data)
}

// userNotices are what the users page says after an action, by the
// action's name in its link: the page shows only its own words, never text
// a link brings (a lure on a trusted page).
var userNotices = map[string]string{
	"disable":        "User disabled.",
	"enable":         "User enabled.",
	"role":           "Role changed.",
	"reset-password": "Password reset token sent.",
}

func (s *Server) userAction(w http.ResponseWriter, r *http.Request, sess session) {
	id, action := r.PathValue("id"), r.PathValue("action")
	a := admin.Actor{UserID: sess.claims.UserID, RequestID: "web-" + rand.Text()}
	var err error
	switch action {
	case "disable", "enable":
		_, err = s.deps.Operators.SetUserDisabled(r.Context(), a, id, action == "disable")
	case "role":
		_, err = s.deps.Operators.SetUserRole(r.Context(), a, id, r.PostFormValue("role"))
	case "reset-password":
		err = s.deps.Operators.ResetUserPassword(r.Context(), a, id)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/users?q="+url.QueryEscape(r.PostFormValue("q"))+"&done="+action, http.StatusSeeOther)
}

// auditRow is one record on the audit page: the intent column shows a
// security event's action, whichever shape the record was stored in, and
// the client's address goes with it.
type auditRow struct {
	audit.Record
	Intent     string
	ClientAddr string
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, sess session) {
	f := audit.Filter{
		UserID: r.FormValue("user"), HomeID: r.FormValue("home"), DeviceID: r.FormValue("device"),
		Intent: r.FormValue("intent"), Outcome: r.FormValue("outcome"), Kind: r.FormValue("kind"), Text: r.FormValue("text"),
	}
	var problem string
	for _, v := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if raw := r.FormValue(v.name); raw != "" {
			t, err := parseTime(raw)
			if err != nil {
				problem = v.name + ": use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
				continue
			}
			*v.dst = t
		}
	}
	const size = 50
	f.Limit = size + 1
	if tok := r.FormValue("page_token"); tok != "" {
		c, err := f.ParsePageToken(tok)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		f.Before = c
	}
	var recs []audit.Record
	var next string
	if problem == "" {
		var err error
		if recs, err = s.deps.Audit.Records(r.Context(), f); err != nil {
			s.fail(w, r, err)
			return
		}
		if len(recs) > size {
			recs = recs[:size]
			last := recs[size-1]
			next = f.PageToken(audit.Cursor{Time: last.Time, ID: last.ID})
		}
	}
	q := r.URL.Query()
	q.Del("page_token")
	charts, err := s.processCharts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]auditRow, len(recs))
	for i, rec := range recs {
		rows[i] = auditRow{Record: rec}
		rows[i].Intent, _ = rec.Shown()
		if _, _, addr := rec.Security(); addr.IsValid() {
			rows[i].ClientAddr = addr.String()
		}
	}
	data := s.page(sess, "Audit", "audit")
	data["Records"], data["Form"], data["Problem"], data["Charts"] = rows, q, problem, charts
	data["Kinds"] = audit.Kinds
	if next != "" {
		q.Set("page_token", next)
		data["Next"] = "/admin/audit?" + q.Encode()
	}
	s.render(w, r, "audit", http.StatusOK, data)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

// period reads since/until, by default the current month so far.
func (s *Server) period(r *http.Request) (time.Time, time.Time, error) {
	now := s.opts.Now().UTC()
	since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	until := now.Truncate(time.Hour).Add(time.Hour)
	var err error
	if v := r.FormValue("since"); v != "" {
		if since, err = parseTime(v); err != nil {
			return since, until, fmt.Errorf("%w: since", usage.ErrInvalidInput)
		}
	}
	if v := r.FormValue("until"); v != "" {
		if until, err = parseTime(v); err != nil {
			return since, until, fmt.Errorf("%w: until", usage.ErrInvalidInput)
		}
	}
	return since, until, nil
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, sess session) {
	since, until, err := s.period(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, err := s.deps.Usage.Report(r.Context(), since, until)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The charts show every home, one user's or one home's: the table's
	// links choose.
	sc := usage.Scope{UserID: r.FormValue("user"), HomeID: r.FormValue("home")}
	charts, err := s.usageCharts(r.Context(), since, until, sc)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := s.page(sess, "Usage", "usage")
	data["Lines"], data["Currency"], data["Charts"] = lines, s.deps.Usage.Currency(), charts
	period := url.Values{"since": {since.Format("2006-01-02T15:04")}, "until": {until.Format("2006-01-02T15:04")}}
	link := func(k, v string) string {
		q := url.Values{"since": period["since"], "until": period["until"]}
		if k != "" {
			q.Set(k, v)
		}
		return "/admin/usage?" + q.Encode()
	}
	data["Scope"], data["AllURL"] = usageScopeName(lines, sc), link("", "")
	data["UserURL"] = func(id string) string { return link("user", id) }
	data["HomeURL"] = func(id string) string { return link("home", id) }
	data["ScopeUser"], data["ScopeHome"] = sc.UserID, sc.HomeID
	data["Since"], data["Until"] = period.Get("since"), period.Get("until")
	data["CSV"] = "/admin/usage.csv?since=" + url.QueryEscape(since.Format(time.RFC3339)) + "&until=" + url.QueryEscape(until.Format(time.RFC3339))
	s.render(w, r, "usage", http.StatusOK, data)
}

// usageScopeName words the charts' scope for their heading, from the
// report's lines; an id not among them is shown as given.
func usageScopeName(lines []usage.Line, sc usage.Scope) string {
	switch {
	case sc.HomeID != "":
		for _, l := range lines {
			if l.HomeID == sc.HomeID {
				return "home " + l.HomeID + " of " + l.Email
			}
		}
		return "home " + sc.HomeID
	case sc.UserID != "":
		for _, l := range lines {
			if l.UserID == sc.UserID {
				return "the homes of " + l.Email
			}
		}
		return "the homes of user " + sc.UserID
	}
	return "every home"
}

func (s *Server) usageCSV(w http.ResponseWriter, r *http.Request, _ session) {
	since, until, err := s.period(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, err := s.deps.Usage.Report(r.Context(), since, until)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="homeplane-usage.csv"`)
	if err := usage.WriteCSV(w, lines, s.deps.Usage.Currency()); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "write usage csv", "err", err)
	}
}
