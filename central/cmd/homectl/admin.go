package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/spreadsheet"
	"github.com/homeplane/homeplane/central/internal/usage"
)

const adminUsage = `usage: homectl admin COMMAND (admins only)
  users [list] [--query Q]                 list users, or those whose email contains Q
  users disable|enable USER_ID             disabling ends every session of the user
  users role USER_ID user|admin            change a user's role
  users reset-password USER_ID             send the user a single-use reset token
  homes                                    every home with owner, agent and Home Assistant health
  audit [filters] [--limit N] [--format table|csv|jsonl] [--output FILE]
        filters: --user --home --device --intent --outcome --kind --text
                 --since --until (RFC 3339 or YYYY-MM-DD)
  usage --since T --until T [--format table|csv]
                                           usage and price per home and user
  limits HOME_ID [--memory SIZE] [--cpus N] | --clear
                                           set a home's container limits (512MiB,
                                           2GiB; 0.5 CPUs; 0: none); --clear
                                           returns to the agent's own`

// adminPage is the page size homectl asks for when it walks a listing.
const adminPage = 500

// admin runs "admin users|homes|audit|usage ...".
func (a *app) admin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("admin needs a command\n%s", adminUsage)
	}
	sub, rest := args[0], args[1:]
	cmds := map[string]func(context.Context, []string) error{
		"users": a.adminUsers, "homes": a.adminHomes, "audit": a.adminAudit, "usage": a.adminUsage,
		"limits": a.adminLimits,
	}
	f, ok := cmds[sub]
	if !ok {
		return usagef("unknown admin command %q\n%s", sub, adminUsage)
	}
	return f(ctx, rest)
}

func (a *app) adminClient() (homeplanev1connect.AdminServiceClient, error) {
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	base, _ := a.baseURL()
	return homeplanev1connect.NewAdminServiceClient(a.http, base, connect.WithInterceptors(s)), nil
}

func (a *app) adminUsers(ctx context.Context, args []string) error {
	fs := a.flags("admin users")
	query := fs.String("query", "", "substring of the email")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	sub := "list"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	c, err := a.adminClient()
	if err != nil {
		return err
	}
	var user *homeplanev1.User
	switch sub {
	case "list":
		var users []*homeplanev1.User
		tok := ""
		for {
			resp, err := c.ListUsers(ctx, connect.NewRequest(&homeplanev1.ListUsersRequest{Query: *query, PageSize: adminPage, PageToken: tok}))
			if err != nil {
				return err
			}
			users = append(users, resp.Msg.GetUsers()...)
			if tok = resp.Msg.GetNextPageToken(); tok == "" {
				break
			}
		}
		if a.json {
			return printJSON(a.env.Stdout, &homeplanev1.ListUsersResponse{Users: users})
		}
		rows := make([][]any, 0, len(users))
		for _, u := range users {
			rows = append(rows, []any{u.GetId(), u.GetEmail(), u.GetRole(), yesNo(u.GetDisabled()), when(u.GetCreatedAt())})
		}
		return table(a.env.Stdout, []any{"ID", "EMAIL", "ROLE", "DISABLED", "CREATED"}, rows)
	case "disable", "enable":
		if len(pos) != 1 {
			return usagef("admin users %s takes a user id", sub)
		}
		resp, err := c.SetUserDisabled(ctx, connect.NewRequest(&homeplanev1.SetUserDisabledRequest{UserId: pos[0], Disabled: sub == "disable"}))
		if err != nil {
			return err
		}
		user = resp.Msg.GetUser()
	case "role":
		if len(pos) != 2 {
			return usagef("admin users role takes a user id and a role (user or admin)")
		}
		resp, err := c.SetUserRole(ctx, connect.NewRequest(&homeplanev1.SetUserRoleRequest{UserId: pos[0], Role: pos[1]}))
		if err != nil {
			return err
		}
		user = resp.Msg.GetUser()
	case "reset-password":
		if len(pos) != 1 {
			return usagef("admin users reset-password takes a user id")
		}
		if _, err := c.ResetUserPassword(ctx, connect.NewRequest(&homeplanev1.ResetUserPasswordRequest{UserId: pos[0]})); err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, &homeplanev1.ResetUserPasswordResponse{})
		}
		_, err := fmt.Fprintf(a.env.Stdout, "Sent a password reset token to user %s\n", pos[0])
		return err
	default:
		return usagef("unknown admin users command %q (list, disable, enable, role, reset-password)", sub)
	}
	if a.json {
		return printJSON(a.env.Stdout, user)
	}
	return table(a.env.Stdout, []any{"ID", "EMAIL", "ROLE", "DISABLED"},
		[][]any{{user.GetId(), user.GetEmail(), user.GetRole(), yesNo(user.GetDisabled())}})
}

func (a *app) adminHomes(ctx context.Context, args []string) error {
	if _, err := a.parse(a.flags("admin homes"), args); err != nil {
		return err
	}
	c, err := a.adminClient()
	if err != nil {
		return err
	}
	var homes []*homeplanev1.FleetHome
	tok := ""
	for {
		resp, err := c.ListAllHomes(ctx, connect.NewRequest(&homeplanev1.ListAllHomesRequest{PageSize: adminPage, PageToken: tok}))
		if err != nil {
			return err
		}
		homes = append(homes, resp.Msg.GetHomes()...)
		if tok = resp.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	if a.json {
		return printJSON(a.env.Stdout, &homeplanev1.ListAllHomesResponse{Homes: homes})
	}
	rows := make([][]any, 0, len(homes))
	for _, f := range homes {
		h, in := f.GetHome(), f.GetInstance()
		agent := "offline"
		if h.GetOnline() {
			agent = "online"
		}
		cpu, mem := "-", "-"
		if in != nil {
			cpu = strconv.FormatFloat(in.GetCpuPercent(), 'f', 1, 64) + "%"
			mem = strconv.FormatUint(in.GetMemoryBytes()>>20, 10) + " MiB"
		}
		rows = append(rows, []any{h.GetId(), h.GetName(), f.GetOwner().GetEmail(), agent, when(h.GetLastSeen()),
			orDash(in.GetState()), orDash(in.GetHealth()), orDash(in.GetVersion()), in.GetRestarts(), cpu, mem})
	}
	return table(a.env.Stdout, []any{"ID", "NAME", "OWNER", "AGENT", "LAST SEEN", "HA STATE", "HEALTH", "VERSION",
		"RESTARTS", "CPU", "MEMORY"}, rows)
}

// parseWhen reads an RFC 3339 time or a YYYY-MM-DD date (UTC midnight).
func parseWhen(name, s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, usagef("--%s %q: want an RFC 3339 time or YYYY-MM-DD", name, s)
}

// exportPageTimeout bounds one page of a long export, which as a whole may
// take longer than a single command usually may.
const exportPageTimeout = time.Minute

func (a *app) adminAudit(ctx context.Context, args []string) error {
	fs := a.flags("admin audit")
	req := &homeplanev1.QueryAuditRequest{}
	fs.StringVar(&req.UserId, "user", "", "user id")
	fs.StringVar(&req.HomeId, "home", "", "home id")
	fs.StringVar(&req.DeviceId, "device", "", "device id")
	fs.StringVar(&req.Intent, "intent", "", "intent name, or the action of a security event")
	fs.StringVar(&req.Outcome, "outcome", "", "outcome (ok, failed, error, rejected, denied)")
	fs.StringVar(&req.Kind, "kind", "", "record kind (intent, login, login_failed, admin, ...)")
	fs.StringVar(&req.Text, "text", "", "substring of the text")
	since := fs.String("since", "", "from this time on")
	until := fs.String("until", "", "before this time")
	limit := fs.Int("limit", 50, "at most this many records; 0 for all")
	format := fs.String("format", "table", "table, csv or jsonl")
	output := fs.String("output", "", "write to this file instead of standard output")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("admin audit takes no arguments")
	}
	if req.Since, err = parseWhen("since", *since); err != nil {
		return err
	}
	if req.Until, err = parseWhen("until", *until); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	if a.json {
		*format = "jsonl"
	}
	var sink auditSink
	out := a.env.Stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	switch *format {
	case "table":
		sink = &tableSink{w: out}
	case "csv":
		sink = newCSVSink(out)
	case "jsonl":
		sink = &jsonlSink{w: out}
	default:
		return usagef("--format must be table, csv or jsonl")
	}
	c, err := a.adminClient()
	if err != nil {
		return err
	}
	// The export outlives the command's usual deadline; each page has its own.
	ctx = context.WithoutCancel(ctx)
	progress := *format != "table" && (*output != "" || *limit == 0)
	n := 0
	for {
		req.PageSize = adminPage
		if *limit > 0 {
			req.PageSize = int32(min(adminPage, *limit-n))
		}
		pctx, cancel := context.WithTimeout(ctx, exportPageTimeout)
		resp, err := c.QueryAudit(pctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			return err
		}
		for _, r := range resp.Msg.GetRecords() {
			if err := sink.add(r); err != nil {
				return err
			}
		}
		n += len(resp.Msg.GetRecords())
		if progress {
			fmt.Fprintf(a.env.Stderr, "\rexported %d records", n)
		}
		req.PageToken = resp.Msg.GetNextPageToken()
		if req.PageToken == "" || (*limit > 0 && n >= *limit) {
			break
		}
	}
	if progress {
		fmt.Fprintln(a.env.Stderr)
	}
	return sink.close()
}

// auditSink writes audit records in one output format.
type auditSink interface {
	add(r *homeplanev1.AuditRecord) error
	close() error
}

type tableSink struct {
	w    io.Writer
	rows [][]any
}

func (t *tableSink) add(r *homeplanev1.AuditRecord) error {
	text := r.GetText()
	if len([]rune(text)) > 40 {
		text = string([]rune(text)[:39]) + "…"
	}
	t.rows = append(t.rows, []any{when(r.GetTime()), r.GetKind(), orDash(r.GetUserId()), orDash(r.GetHomeId()),
		orDash(r.GetIntent()), r.GetOutcome(), strconv.FormatInt(r.GetLatencyUs()/1000, 10) + " ms", orDash(text), r.GetRequestId()})
	return nil
}

func (t *tableSink) close() error {
	return table(t.w, []any{"TIME", "KIND", "USER", "HOME", "INTENT", "OUTCOME", "LATENCY", "TEXT", "REQUEST"}, t.rows)
}

var csvHeader = []string{"id", "time", "request_id", "kind", "user_id", "home_id", "device_id", "text", "intent", "slots",
	"parser", "executed", "answer", "outcome", "error", "parse_us", "resolve_us", "execute_us", "total_us", "llm_tokens",
	"action", "detail", "client_addr"}

type csvSink struct{ w *spreadsheet.Writer }

func newCSVSink(w io.Writer) *csvSink {
	s := &csvSink{w: spreadsheet.NewWriter(w)}
	_ = s.w.Write(csvHeader)
	return s
}

func (s *csvSink) add(r *homeplanev1.AuditRecord) error {
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return s.w.Write([]string{i(r.GetId()), r.GetTime().AsTime().UTC().Format(time.RFC3339Nano), r.GetRequestId(), r.GetKind(),
		r.GetUserId(), r.GetHomeId(), r.GetDeviceId(), r.GetText(), r.GetIntent(), structJSON(r.GetSlots()), r.GetParser(),
		r.GetExecutedJson(), r.GetAnswerJson(), r.GetOutcome(), r.GetError(), i(r.GetParseUs()), i(r.GetResolveUs()),
		i(r.GetExecuteUs()), i(r.GetLatencyUs()), i(int64(r.GetLlmTokens())),
		r.GetAction(), structJSON(r.GetDetail()), r.GetClientAddr()})
}

// structJSON is v as JSON text, empty when absent.
func structJSON(v *structpb.Struct) string {
	if v == nil {
		return ""
	}
	b, _ := protojson.Marshal(v)
	return string(b)
}

func (s *csvSink) close() error {
	s.w.Flush()
	return s.w.Error()
}

type jsonlSink struct{ w io.Writer }

var jsonlOptions = protojson.MarshalOptions{UseProtoNames: true}

func (s *jsonlSink) add(r *homeplanev1.AuditRecord) error {
	b, err := jsonlOptions.Marshal(r)
	if err != nil {
		return err
	}
	// protojson may add spaces but never newlines without Multiline.
	_, err = fmt.Fprintf(s.w, "%s\n", strings.TrimSpace(string(b)))
	return err
}

func (s *jsonlSink) close() error { return nil }

func (a *app) adminUsage(ctx context.Context, args []string) error {
	fs := a.flags("admin usage")
	since := fs.String("since", "", "start of the period (required)")
	until := fs.String("until", "", "end of the period (required)")
	format := fs.String("format", "table", "table or csv")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	req := &homeplanev1.GetUsageReportRequest{}
	var err error
	if req.Since, err = parseWhen("since", *since); err != nil {
		return err
	}
	if req.Until, err = parseWhen("until", *until); err != nil {
		return err
	}
	if req.Since == nil || req.Until == nil {
		return usagef("admin usage needs --since and --until")
	}
	c, err := a.adminClient()
	if err != nil {
		return err
	}
	resp, err := c.GetUsageReport(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	cur := resp.Msg.GetCurrency()
	f4 := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	if *format == "csv" {
		lines := make([]usage.Line, 0, len(resp.Msg.GetLines()))
		for _, l := range resp.Msg.GetLines() {
			lines = append(lines, usage.Line{UserID: l.GetUserId(), Email: l.GetEmail(), HomeID: l.GetHomeId(),
				CPUCoreHours: l.GetCpuCoreHours(), MemoryGiBHours: l.GetMemoryGibHours(), Intents: l.GetIntents(), Price: l.GetPrice()})
		}
		return usage.WriteCSV(a.env.Stdout, lines, cur)
	}
	if *format != "table" {
		return usagef("--format must be table or csv")
	}
	rows := make([][]any, 0, len(resp.Msg.GetLines()))
	for _, l := range resp.Msg.GetLines() {
		home := l.GetHomeId()
		if home == "" {
			home = "(user total)"
		}
		rows = append(rows, []any{l.GetEmail(), home, f4(l.GetCpuCoreHours()), f4(l.GetMemoryGibHours()), l.GetIntents(),
			strconv.FormatFloat(l.GetPrice(), 'f', 2, 64) + " " + cur})
	}
	return table(a.env.Stdout, []any{"USER", "HOME", "CPU CORE-H", "MEMORY GIB-H", "INTENTS", "PRICE"}, rows)
}

func (a *app) adminLimits(ctx context.Context, args []string) error {
	fs := a.flags("admin limits")
	memory := fs.String("memory", "0", "memory limit: 512MiB, 2GiB or bytes; 0 for none")
	cpus := fs.Float64("cpus", 0, "CPU limit in CPUs, 0.01 or more; 0 for none")
	clear := fs.Bool("clear", false, "forget central's limits; the agent's own apply")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("admin limits takes a home id\n%s", adminUsage)
	}
	req := &homeplanev1.SetInstanceLimitsRequest{HomeId: pos[0]}
	if !*clear {
		mem, err := parseSize(*memory)
		if err != nil {
			return usagef("--memory: %v", err)
		}
		if *cpus < 0 || *cpus > 1e6 {
			return usagef("--cpus: %v is not a number of CPUs", *cpus)
		}
		req.Limits = &homeplanev1.InstanceLimits{MemoryBytes: mem, NanoCpus: int64(*cpus * 1e9)}
	}
	c, err := a.adminClient()
	if err != nil {
		return err
	}
	resp, err := c.SetInstanceLimits(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	what := "cleared; the agent's own limits apply"
	if l := resp.Msg.GetLimits(); l != nil {
		what = limitsText(l)
	}
	state := "applied by the agent"
	if !resp.Msg.GetDelivered() {
		state = "the agent is offline; it gets them when it connects"
	}
	_, err = fmt.Fprintf(a.env.Stdout, "Limits of home %s: %s (%s)\n", pos[0], what, state)
	return err
}

// parseSize reads "512MiB", "2GiB" or a number of bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 512MiB or 2GiB", s)
	}
	return n * mult, nil
}

// limitsText is how limits read: "memory 512.0 MiB, 0.50 CPUs".
func limitsText(l *homeplanev1.InstanceLimits) string {
	mem, cpu := "no memory limit", "no CPU limit"
	if m := l.GetMemoryBytes(); m > 0 {
		mem = "memory " + bytesText(uint64(m))
	}
	if c := l.GetNanoCpus(); c > 0 {
		cpu = fmt.Sprintf("%.2f CPUs", float64(c)/1e9)
	}
	return mem + ", " + cpu
}
