package rpc

import (
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/registry"
)

// The domain services satisfy what rpc asks of them.
var (
	_ Accounts = (*auth.Service)(nil)
	_ Homes    = (*home.Service)(nil)
	_ Entities = (*registry.Registry)(nil)
	_ Intents  = (*intent.Engine)(nil)
	_ Auditor  = (*audit.Writer)(nil)
	_ Presence = (*command.Router)(nil)
)
