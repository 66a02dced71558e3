// Package parser is the public SDK for Homeplane parser plugins: programs
// that central starts through hashicorp/go-plugin and asks, over gRPC, what
// a sentence means. A plugin implements Parser and calls Serve from main;
// central dispenses PluginName with Handshake and calls Parse.
//
// The wire contract is homeplane.plugin.v1.ParserService
// (protocol/proto/homeplane/plugin/v1/parser.proto).
package parser

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/homeplane/homeplane/protocol/gen/homeplane/plugin/v1"
)

// Parser is what a plugin implements. Parse answers Matched false when it
// does not understand the sentence; an error means the plugin failed.
type Parser interface {
	Parse(ctx context.Context, req *pluginv1.ParseRequest) (*pluginv1.ParseResponse, error)
}

// PluginName is the name central dispenses.
const PluginName = "parser"

// Handshake makes sure central and a plugin speak the same protocol version
// and that a plugin binary is not started by accident as a normal program.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "HOMEPLANE_PARSER_PLUGIN",
	MagicCookieValue: "7d1f0c7e-parse-sentences",
}

// Plugins is the plugin set both sides use.
func Plugins(impl Parser) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: impl}}
}

// Serve runs impl as a plugin until central goes away. Call it from main.
func Serve(impl Parser) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         Plugins(impl),
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// GRPCPlugin is the go-plugin glue: it serves Impl on the plugin side and
// hands central a client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Parser
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's Parser.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("parser plugin: no implementation")
	}
	s.RegisterService(&serviceDesc, p.Impl)
	return nil
}

// GRPCClient returns a Parser that calls the plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &client{conn: c}, nil
}

const parseMethod = "/homeplane.plugin.v1.ParserService/Parse"

// serviceDesc describes homeplane.plugin.v1.ParserService to gRPC.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: "homeplane.plugin.v1.ParserService",
	HandlerType: (*Parser)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Parse", Handler: parseHandler}},
	Metadata:    "homeplane/plugin/v1/parser.proto",
}

func parseHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(pluginv1.ParseRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(Parser).Parse(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: parseMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(Parser).Parse(ctx, req.(*pluginv1.ParseRequest))
	})
}

type client struct {
	conn *grpc.ClientConn
}

func (c *client) Parse(ctx context.Context, req *pluginv1.ParseRequest) (*pluginv1.ParseResponse, error) {
	out := new(pluginv1.ParseResponse)
	if err := c.conn.Invoke(ctx, parseMethod, req, out); err != nil {
		return nil, err
	}
	return out, nil
}
