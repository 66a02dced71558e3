package pbjson

import (
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Names chooses the member names: the json names protojson writes by
// default (registry documents) or the proto field names (audit records).
type Names int

const (
	JSONNames Names = iota
	ProtoNames
)

var entityNames = [2]struct{ id, name, aliases, domain, class, area, state, attrs, changed string }{
	{"entityId", "name", "aliases", "domain", "deviceClass", "areaId", "state", "attributes", "lastChanged"},
	{"entity_id", "name", "aliases", "domain", "device_class", "area_id", "state", "attributes", "last_changed"},
}

// AppendEntity writes an Entity with json names.
func AppendEntity(b []byte, e *homeplanev1.Entity) ([]byte, error) {
	return appendEntity(b, e, JSONNames)
}

func appendEntity(b []byte, e *homeplanev1.Entity, names Names) ([]byte, error) {
	n := &entityNames[names]
	o := Start(b)
	o.Str(n.id, e.GetEntityId())
	o.Str(n.name, e.GetName())
	List(&o, n.aliases, e.GetAliases(), AppendString)
	o.Str(n.domain, e.GetDomain())
	o.Str(n.class, e.GetDeviceClass())
	o.Str(n.area, e.GetAreaId())
	o.Str(n.state, e.GetState())
	// A packed entity (ADR 0054) holds both encoded in its unknown fields.
	if a := e.GetAttributes(); a != nil {
		o.Member(n.attrs, func(b []byte) ([]byte, error) { return AppendStruct(b, a) })
	} else if raw, ok := pack.RawAttributes(e); ok {
		o.Member(n.attrs, func(b []byte) ([]byte, error) { return AppendEncodedStruct(b, raw) })
	}
	if t := e.GetLastChanged(); t != nil {
		o.Member(n.changed, func(b []byte) ([]byte, error) { return AppendTimestamp(b, t.GetSeconds(), int64(t.GetNanos())) })
	} else if secs, nanos, ok := pack.RawLastChanged(e); ok {
		o.Member(n.changed, func(b []byte) ([]byte, error) { return AppendTimestamp(b, secs, int64(nanos)) })
	}
	return o.End()
}

// AppendServiceCall writes a ServiceCall with proto names.
func AppendServiceCall(b []byte, c *homeplanev1.ServiceCall) ([]byte, error) {
	o := Start(b)
	o.Str("domain", c.GetDomain())
	o.Str("service", c.GetService())
	List(&o, "entity_ids", c.GetEntityIds(), AppendString)
	if d := c.GetData(); d != nil {
		o.Member("data", func(b []byte) ([]byte, error) { return AppendStruct(b, d) })
	}
	return o.End()
}

// AppendResult writes a Result with proto names. Its instance, set only by
// instance operations and not on the request path, goes through protojson.
func AppendResult(b []byte, r *homeplanev1.Result) ([]byte, error) {
	o := Start(b)
	o.Str("command_id", r.GetCommandId())
	o.Str("request_id", r.GetRequestId())
	o.Bool("ok", r.GetOk())
	o.Str("error_code", r.GetErrorCode())
	o.Str("error", r.GetError())
	List(&o, "changed", r.GetChanged(), func(b []byte, e *homeplanev1.Entity) ([]byte, error) {
		return appendEntity(b, e, ProtoNames)
	})
	o.Int64("home_assistant_us", r.GetHomeAssistantUs())
	if in := r.GetInstance(); in != nil {
		o.Member("instance", func(b []byte) ([]byte, error) {
			return protojson.MarshalOptions{UseProtoNames: true}.MarshalAppend(b, in)
		})
	}
	if c := r.GetCode(); c != 0 {
		o.Member("code", func(b []byte) ([]byte, error) { return appendEnum(b, int32(c), homeplanev1.CommandError_name) })
	}
	return o.End()
}

// appendEnum writes an enum value by name, or by number when it has none.
func appendEnum(b []byte, v int32, names map[int32]string) ([]byte, error) {
	if name, ok := names[v]; ok {
		return AppendString(b, name)
	}
	return strconv.AppendInt(b, int64(v), 10), nil
}

// AppendProcessResponse writes a ProcessResponse with json names, as the
// Connect JSON codec sends it to a voice device.
func AppendProcessResponse(b []byte, r *homeplanev1.ProcessResponse) ([]byte, error) {
	o := Start(b)
	o.Str("speech", r.GetSpeech())
	if in := r.GetIntent(); in != nil {
		o.Member("intent", func(b []byte) ([]byte, error) {
			o := Start(b)
			o.Str("name", in.GetName())
			if s := in.GetSlots(); s != nil {
				o.Member("slots", func(b []byte) ([]byte, error) { return AppendStruct(b, s) })
			}
			return o.End()
		})
	}
	List(&o, "targets", r.GetTargets(), appendTarget)
	o.Bool("success", r.GetSuccess())
	o.Str("conversationId", r.GetConversationId())
	o.Str("requestId", r.GetRequestId())
	o.Str("errorCode", r.GetErrorCode())
	return o.End()
}

func appendTarget(b []byte, t *homeplanev1.Target) ([]byte, error) {
	o := Start(b)
	o.Str("entityId", t.GetEntityId())
	o.Str("name", t.GetName())
	o.Str("area", t.GetArea())
	o.Str("domain", t.GetDomain())
	o.Str("state", t.GetState())
	return o.End()
}
