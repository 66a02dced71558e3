package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// devices runs "devices [list|add|revoke]".
func (a *app) devices(ctx context.Context, args []string) error {
	fs := a.flags("devices")
	homeID := homeFlag(fs)
	name := fs.String("name", "", "device name (add)")
	area := fs.String("area", "", "area the device stands in, by name or area id (add)")
	deviceID := fs.String("device", "", "device id (revoke; or as the argument)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	sub, rest := "list", pos
	if len(pos) > 0 {
		sub, rest = pos[0], pos[1:]
	}
	switch sub {
	case "list", "add":
		if len(rest) > 0 {
			return usagef("devices %s takes no arguments", sub)
		}
	case "revoke":
		if len(rest) == 1 && *deviceID == "" {
			*deviceID = rest[0]
		} else if len(rest) > 0 {
			return usagef("devices revoke takes one device id")
		}
		if *deviceID == "" {
			return usagef("devices revoke needs a device id")
		}
	default:
		return usagef("unknown devices command %q (list, add, revoke)", sub)
	}
	if sub == "add" && *name == "" {
		return usagef("devices add needs --name")
	}

	c, err := a.userClients()
	if err != nil {
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		resp, err := c.home.RegisterDevice(ctx, connect.NewRequest(&homeplanev1.RegisterDeviceRequest{HomeId: home, Name: *name, Area: *area}))
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, resp.Msg)
		}
		d := resp.Msg.GetDevice()
		// The token alone on stdout, so TOKEN=$(homectl devices add ...) works.
		fmt.Fprintf(a.env.Stderr, "Registered device %s (%s, area %s). Its token is shown once:\n", d.GetId(), d.GetName(), orDash(d.GetArea()))
		_, err = fmt.Fprintln(a.env.Stdout, resp.Msg.GetToken())
		return err
	case "revoke":
		if _, err := c.home.RevokeDevice(ctx, connect.NewRequest(&homeplanev1.RevokeDeviceRequest{HomeId: home, DeviceId: *deviceID})); err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, &homeplanev1.RevokeDeviceResponse{})
		}
		_, err := fmt.Fprintf(a.env.Stdout, "Revoked device %s\n", *deviceID)
		return err
	}
	resp, err := c.home.ListDevices(ctx, connect.NewRequest(&homeplanev1.ListDevicesRequest{HomeId: home}))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	rows := make([][]any, 0, len(resp.Msg.GetDevices()))
	for _, d := range resp.Msg.GetDevices() {
		rows = append(rows, []any{d.GetId(), d.GetName(), orDash(d.GetArea()), yesNo(d.GetRevoked()), when(d.GetCreatedAt())})
	}
	return table(a.env.Stdout, []any{"ID", "NAME", "AREA", "REVOKED", "CREATED"}, rows)
}
