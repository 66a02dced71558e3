package postgres

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/homeplane/homeplane/central/internal/pbjson"
	"github.com/homeplane/homeplane/central/internal/registry"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The registry document is written on every entity delta, so it is encoded
// by hand rather than through protojson's reflection (ADR 0038). It is the
// protojson form of a ListEntitiesResponse: the same json names, zero values
// left out, timestamps in RFC 3339 UTC, attributes as plain JSON, and an
// error wherever protojson.Marshal gives one (invalid UTF-8, a NaN or
// infinite number, a Value with no kind, a timestamp out of range), so that
// protojson.Unmarshal, on this replica or an older one, reads it back as
// it read protojson's own. Struct keys come in map order: jsonb keeps its
// own order anyway.

// docBuf is a pooled buffer for one encoded document.
type docBuf struct{ b []byte }

// maxPooledDoc bounds the buffers kept for reuse, so that one very large
// home does not pin its buffer in every P's pool.
const maxPooledDoc = 1 << 20

var docBufs = sync.Pool{New: func() any { return &docBuf{b: make([]byte, 0, 32<<10)} }}

// release returns the buffer to the pool; its bytes must no longer be used.
func (d *docBuf) release() {
	if cap(d.b) <= maxPooledDoc {
		docBufs.Put(d)
	}
}

// encodeSnapshot encodes snap into a pooled buffer; the caller releases it
// once the statement that carries it has run.
func encodeSnapshot(snap *registry.Snapshot) (*docBuf, error) {
	d := docBufs.Get().(*docBuf)
	b, err := appendSnapshot(d.b[:0], snap)
	if err != nil {
		d.release()
		return nil, fmt.Errorf("encode registry: %w", err)
	}
	d.b = b
	return d, nil
}

// appendSnapshot appends snap's document to b.
func appendSnapshot(b []byte, snap *registry.Snapshot) ([]byte, error) {
	o := pbjson.Start(b)
	pbjson.List(&o, "entities", snap.Entities, pbjson.AppendEntity)
	pbjson.List(&o, "areas", snap.Areas, appendArea)
	pbjson.List(&o, "floors", snap.Floors, appendFloor)
	if !snap.SyncedAt.IsZero() && o.Err == nil {
		o.Name("syncedAt")
		o.B, o.Err = pbjson.AppendTimestamp(o.B, snap.SyncedAt.Unix(), int64(snap.SyncedAt.Nanosecond()))
	}
	return o.End()
}

func appendArea(b []byte, a *homeplanev1.Area) ([]byte, error) {
	o := pbjson.Start(b)
	o.Str("id", a.GetId())
	o.Str("name", a.GetName())
	pbjson.List(&o, "aliases", a.GetAliases(), pbjson.AppendString)
	o.Str("floorId", a.GetFloorId())
	return o.End()
}

func appendFloor(b []byte, f *homeplanev1.Floor) ([]byte, error) {
	o := pbjson.Start(b)
	o.Str("id", f.GetId())
	o.Str("name", f.GetName())
	pbjson.List(&o, "aliases", f.GetAliases(), pbjson.AppendString)
	if f.GetLevel() != 0 {
		o.Name("level")
		o.B = strconv.AppendInt(o.B, int64(f.GetLevel()), 10)
	}
	return o.End()
}
