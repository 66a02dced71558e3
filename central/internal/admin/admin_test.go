package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
)

const (
	rootID  = "11111111-1111-4111-8111-111111111111"
	aliceID = "22222222-2222-4222-8222-222222222222"
)

// fakes is a hand-written admin.Store, admin.Accounts and admin.Auditor.
type fakes struct {
	users    map[string]auth.User
	events   []audit.Event
	resetErr error
	ended    []string // users whose sessions were ended
}

func (f *fakes) ListUsers(context.Context, string, string, int) ([]auth.User, error) { return nil, nil }
func (f *fakes) ListHomes(context.Context, string, int) ([]admin.FleetHome, error)   { return nil, nil }
func (f *fakes) User(_ context.Context, id string) (auth.User, error) {
	u, ok := f.users[id]
	if !ok {
		return auth.User{}, admin.ErrNotFound
	}
	return u, nil
}
func (f *fakes) SetUserRole(_ context.Context, id, role string, _ time.Time) error {
	u := f.users[id]
	u.Role = role
	f.users[id] = u
	return nil
}
func (f *fakes) SetUserDisabled(_ context.Context, id string, d bool) error {
	u := f.users[id]
	u.Disabled = d
	f.users[id] = u
	return nil
}
func (f *fakes) RequestPasswordReset(context.Context, string) error { return f.resetErr }
func (f *fakes) SessionsEnded(userID string)                        { f.ended = append(f.ended, userID) }
func (f *fakes) Event(_ context.Context, e audit.Event) error {
	f.events = append(f.events, e)
	return nil
}

func TestOperatorActions(t *testing.T) {
	root := admin.Actor{UserID: rootID, RequestID: "r1"}
	tests := []struct {
		name      string
		do        func(*admin.Service) error
		want      error
		wantEvent string // the audited action and outcome, "" for none
	}{
		{"disable", func(s *admin.Service) error {
			u, err := s.SetUserDisabled(context.Background(), root, aliceID, true)
			if err == nil && !u.Disabled {
				return errors.New("user not disabled")
			}
			return err
		}, nil, "DisableUser ok"},
		{"disable yourself", func(s *admin.Service) error {
			_, err := s.SetUserDisabled(context.Background(), root, rootID, true)
			return err
		}, admin.ErrInvalidInput, ""},
		{"demote yourself", func(s *admin.Service) error {
			_, err := s.SetUserRole(context.Background(), root, rootID, auth.RoleUser)
			return err
		}, admin.ErrInvalidInput, ""},
		{"unknown role", func(s *admin.Service) error {
			_, err := s.SetUserRole(context.Background(), root, aliceID, "owner")
			return err
		}, admin.ErrInvalidInput, ""},
		{"not a uuid", func(s *admin.Service) error {
			_, err := s.SetUserRole(context.Background(), root, "../etc", auth.RoleAdmin)
			return err
		}, admin.ErrNotFound, ""},
		{"promote", func(s *admin.Service) error {
			u, err := s.SetUserRole(context.Background(), root, aliceID, auth.RoleAdmin)
			if err == nil && u.Role != auth.RoleAdmin {
				return errors.New("role unchanged")
			}
			return err
		}, nil, "SetUserRole ok"},
		{"failed reset is audited", func(s *admin.Service) error {
			return s.ResetUserPassword(context.Background(), root, aliceID)
		}, errBoom, "ResetUserPassword failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakes{users: map[string]auth.User{
				rootID:  {ID: rootID, Email: "root@example.com", Role: auth.RoleAdmin},
				aliceID: {ID: aliceID, Email: "alice@example.com", Role: auth.RoleUser},
			}}
			if tc.name == "failed reset is audited" {
				f.resetErr = errBoom
			}
			err := tc.do(admin.New(f, f, f, admin.Options{}))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.name == "promote" && !slices.Contains(f.ended, aliceID) {
				t.Fatal("the role change did not end alice's sessions at once")
			}
			switch {
			case tc.wantEvent == "" && len(f.events) != 0:
				t.Fatalf("audited %+v for a refused request", f.events)
			case tc.wantEvent != "":
				if len(f.events) != 1 || f.events[0].Action+" "+f.events[0].Outcome != tc.wantEvent ||
					f.events[0].Kind != audit.KindAdmin || f.events[0].UserID != rootID || f.events[0].Detail["target_user_id"] != aliceID {
					t.Fatalf("events = %+v, want %q", f.events, tc.wantEvent)
				}
			}
		})
	}
}

var errBoom = errors.New("notifier down")
