package homeassistant

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// FullSync converts a whole registry into the message central keeps its
// copy of the home from, fitted within central's bounds (ADR 0056);
// dropped counts the entities left out.
func FullSync(r Registry) (s *homeplanev1.EntitySync, dropped int) {
	s = &homeplanev1.EntitySync{Full: true, Time: timestamppb.Now()}
	for _, e := range r.Entities {
		s.Entities = append(s.Entities, entityProto(e))
	}
	for _, a := range r.Areas {
		s.Areas = append(s.Areas, &homeplanev1.Area{Id: a.ID, Name: a.Name, Aliases: a.Aliases, FloorId: a.FloorID})
	}
	for _, f := range r.Floors {
		s.Floors = append(s.Floors, &homeplanev1.Floor{Id: f.ID, Name: f.Name, Aliases: f.Aliases, Level: int32(f.Level)})
	}
	return s, fitSync(s)
}

// Delta is FullSync for changed and removed entities; ok is false when it
// does not fit in one message, and a full sync (which is fitted) is due.
func Delta(changed []*homeplanev1.Entity, removed []string) (s *homeplanev1.EntitySync, ok bool) {
	s = &homeplanev1.EntitySync{Time: timestamppb.Now(), Entities: changed, RemovedEntityIds: removed}
	fitRecords(s)
	return s, proto.Size(s) <= MaxSyncBytes
}

// entityProto converts a registry entity with its state.
func entityProto(e Entity) *homeplanev1.Entity {
	out := &homeplanev1.Entity{
		EntityId:    e.EntityID,
		Name:        e.Name,
		Aliases:     e.Aliases,
		Domain:      e.Domain,
		DeviceClass: e.DeviceClass,
		AreaId:      e.AreaID,
	}
	if out.Domain == "" {
		out.Domain = domainOf(e.EntityID)
	}
	setState(out, e.State)
	fitEntity(out)
	return out
}

// Entity converts a bare state, filling in the registry facts when the
// entity is known to f.
func (f *Facts) Entity(s State) *homeplanev1.Entity {
	out := &homeplanev1.Entity{EntityId: s.EntityID, Domain: domainOf(s.EntityID)}
	if known, ok := f.entity(s.EntityID); ok {
		out.Name, out.Aliases, out.Domain = known.name, known.aliases, known.domain
		out.DeviceClass, out.AreaId = known.deviceClass, known.areaID
	}
	setState(out, s)
	if out.Name == "" {
		out.Name, _ = s.Attributes["friendly_name"].(string)
	}
	if out.DeviceClass == "" {
		out.DeviceClass, _ = s.Attributes["device_class"].(string)
	}
	fitEntity(out)
	return out
}

func setState(out *homeplanev1.Entity, s State) {
	out.State = s.State
	out.Attributes = attributes(s.Attributes)
	if !s.LastChanged.IsZero() {
		out.LastChanged = timestamppb.New(s.LastChanged)
	}
}

// attributes converts Home Assistant attributes, skipping values a Struct
// cannot hold, or nested past maxAttrDepth, rather than failing the whole
// entity.
func attributes(in map[string]any) *structpb.Struct {
	if len(in) == 0 {
		return nil
	}
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(in))}
	for k, v := range in {
		if t, ok := v.(time.Time); ok {
			v = t.Format(time.RFC3339Nano)
		}
		if !depthWithin(v, maxAttrDepth) {
			continue
		}
		pv, err := structpb.NewValue(v)
		if err != nil {
			continue
		}
		out.Fields[k] = pv
	}
	return out
}
