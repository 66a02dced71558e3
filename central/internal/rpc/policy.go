package rpc

import (
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/auth"
)

// DashboardPath is where the operators' web dashboard lives. It is in the
// policy table like a procedure, so the dashboard and AdminService admit
// the same callers.
const DashboardPath = "/admin/"

// DashboardAdmits reports whether the holder of a verified access token may
// use the dashboard, by the policy table.
func DashboardAdmits(c auth.Claims) bool {
	return allowed(policy[DashboardPath], Caller{UserID: c.UserID, Role: c.Role}) == nil
}

// access says who may call a procedure.
type access int

const (
	// accessPublic needs no token; a token sent anyway is ignored.
	accessPublic access = iota + 1
	// accessUser needs a user's access token.
	accessUser
	// accessUserOrDevice also admits a voice device's token.
	accessUserOrDevice
	// accessAdmin needs the access token of a user with the admin role.
	accessAdmin
)

func (a access) String() string {
	switch a {
	case accessPublic:
		return "public"
	case accessUser:
		return "user"
	case accessUserOrDevice:
		return "user-or-device"
	case accessAdmin:
		return "admin"
	}
	return "none"
}

// policy is the one table of who may call what. A procedure missing here is
// refused (a test checks that every procedure of every service is listed).
var policy = map[string]access{
	hv1c.AuthServiceRegisterProcedure:             accessPublic,
	hv1c.AuthServiceConfirmRegistrationProcedure:  accessPublic, // the token is the credential
	hv1c.AuthServiceLoginProcedure:                accessPublic,
	hv1c.AuthServiceRefreshProcedure:              accessPublic,
	hv1c.AuthServiceLogoutProcedure:               accessPublic, // the refresh token is the credential
	hv1c.AuthServiceChangePasswordProcedure:       accessUser,
	hv1c.AuthServiceRequestPasswordResetProcedure: accessPublic,
	hv1c.AuthServiceResetPasswordProcedure:        accessPublic, // the reset token is the credential

	hv1c.HomeServiceCreateHomeProcedure:             accessUser,
	hv1c.HomeServiceListHomesProcedure:              accessUser,
	hv1c.HomeServiceGetHomeProcedure:                accessUser,
	hv1c.HomeServiceDeleteHomeProcedure:             accessUser,
	hv1c.HomeServiceCreateEnrollmentTokenProcedure:  accessUser,
	hv1c.HomeServiceRegisterDeviceProcedure:         accessUser,
	hv1c.HomeServiceListDevicesProcedure:            accessUser,
	hv1c.HomeServiceRevokeDeviceProcedure:           accessUser,
	hv1c.HomeServiceListEntitiesProcedure:           accessUser,
	hv1c.HomeServiceGetInstanceProcedure:            accessUser,
	hv1c.HomeServiceControlInstanceProcedure:        accessUser,
	hv1c.HomeServiceRevokeAgentProcedure:            accessUser,
	hv1c.HomeServiceRevokeEnrollmentTokensProcedure: accessUser,
	hv1c.HomeServiceSetSensitivePolicyProcedure:     accessUser,
	hv1c.HomeServiceGetUsageProcedure:               accessUser,

	hv1c.IntentServiceProcessProcedure:     accessUserOrDevice,
	hv1c.IntentServiceWatchTimersProcedure: accessUserOrDevice,
	hv1c.IntentServiceGetPipelineProcedure: accessUser,
	hv1c.IntentServiceSetPipelineProcedure: accessUser,

	hv1c.AgentServiceEnrollProcedure: accessPublic, // the enrollment token is the credential

	hv1c.AdminServiceListUsersProcedure:         accessAdmin,
	hv1c.AdminServiceSetUserDisabledProcedure:   accessAdmin,
	hv1c.AdminServiceSetUserRoleProcedure:       accessAdmin,
	hv1c.AdminServiceResetUserPasswordProcedure: accessAdmin,
	hv1c.AdminServiceListAllHomesProcedure:      accessAdmin,
	hv1c.AdminServiceQueryAuditProcedure:        accessAdmin,
	hv1c.AdminServiceGetUsageReportProcedure:    accessAdmin,
	hv1c.AdminServiceSetInstanceLimitsProcedure: accessAdmin,

	hv1c.PairingServiceStartPairingProcedure:   accessPublic, // a device without a token yet
	hv1c.PairingServicePollPairingProcedure:    accessPublic, // the device code is the credential
	hv1c.PairingServiceApprovePairingProcedure: accessUser,
	hv1c.PairingServiceDenyPairingProcedure:    accessUser,

	DashboardPath: accessAdmin,
}
