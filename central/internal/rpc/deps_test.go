package rpc

import (
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/presence"
	"github.com/homeplane/homeplane/central/internal/registry"
)

// The domain services satisfy what rpc asks of them.
var (
	_ Accounts = (*auth.Service)(nil)
	_ Homes    = (*home.Service)(nil)
	_ Entities = (*registry.Store)(nil)
	_ Intents  = (*intent.Engine)(nil)
	_ Auditor  = (*audit.Writer)(nil)
	_ Presence = (*presence.Tracker)(nil)
)
