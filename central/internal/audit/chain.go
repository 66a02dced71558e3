package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// The chain: every record's Hash is SHA-256 over its predecessor's hash and
// its own fields (see Digest), and records are numbered 1, 2, 3, ... by ID.
// Changing a record breaks its hash; removing one leaves a gap in the IDs;
// removing the newest ones disagrees with the stored chain head. Retention
// drops whole months and moves the anchor (the last dropped ID and hash)
// forward, so verification starts where the kept records begin.

// ErrTampered is wrapped by the error Verify returns for a broken chain.
var ErrTampered = errors.New("audit chain broken")

// Head is the chain's stored state.
type Head struct {
	LastID     int64  // the newest record's ID, 0 when empty
	LastHash   []byte // the newest record's hash
	AnchorID   int64  // the last record dropped by retention, 0 if none
	AnchorHash []byte // its hash
}

// ChainSource is what Verify reads.
type ChainSource interface {
	ChainHead(ctx context.Context) (Head, error)
	// WalkRecords calls fn for every record with an ID above after, in ID order.
	WalkRecords(ctx context.Context, after int64, fn func(Record) error) error
}

// Broken names the first record where the chain breaks.
type Broken struct {
	ID        int64
	RequestID string // empty for a removed record
	Reason    string // "changed" or "removed"
}

func (b *Broken) Error() string {
	if b.RequestID != "" {
		return fmt.Sprintf("%v: record %d (request %s) %s", ErrTampered, b.ID, b.RequestID, b.Reason)
	}
	return fmt.Sprintf("%v: record %d %s", ErrTampered, b.ID, b.Reason)
}

func (b *Broken) Unwrap() error { return ErrTampered }

// Verified is what an intact chain looks like.
type Verified struct {
	Records int64
	FirstID int64
	LastID  int64
	Head    string // hex hash of the newest record, worth keeping elsewhere
}

// Verify walks the chain from its anchor and returns a *Broken error naming
// the first record that was changed or removed.
func Verify(ctx context.Context, src ChainSource) (Verified, error) {
	head, err := src.ChainHead(ctx)
	if err != nil {
		return Verified{}, fmt.Errorf("audit: chain head: %w", err)
	}
	v := Verified{FirstID: head.AnchorID + 1}
	wantID, prev := head.AnchorID+1, head.AnchorHash
	var prevRec Record
	err = src.WalkRecords(ctx, head.AnchorID, func(r Record) error {
		if r.ID != wantID {
			return &Broken{ID: wantID, Reason: "removed"}
		}
		if !bytes.Equal(r.PrevHash, prev) {
			// The predecessor was rewritten together with its own hash.
			if prevRec.ID != 0 {
				return &Broken{ID: prevRec.ID, RequestID: prevRec.RequestID, Reason: "changed"}
			}
			return &Broken{ID: r.ID, RequestID: r.RequestID, Reason: "changed"}
		}
		sum, err := Digest(prev, r)
		if err != nil || !bytes.Equal(sum, r.Hash) {
			return &Broken{ID: r.ID, RequestID: r.RequestID, Reason: "changed"}
		}
		prev, prevRec = sum, r
		wantID++
		v.Records++
		return nil
	})
	if err != nil {
		var b *Broken
		if errors.As(err, &b) {
			return v, b
		}
		return v, fmt.Errorf("audit: walk records: %w", err)
	}
	if wantID-1 < head.LastID {
		return v, &Broken{ID: wantID, Reason: "removed"}
	}
	if head.LastID > 0 && !bytes.Equal(prev, head.LastHash) {
		return v, &Broken{ID: prevRec.ID, RequestID: prevRec.RequestID, Reason: "changed"}
	}
	v.LastID = wantID - 1
	v.Head = hex.EncodeToString(prev)
	return v, nil
}

// Digest is the chain hash of r following prev:
// SHA-256("homeplane-audit-v1" ‖ prev ‖ ID ‖ ContentSum(r)).
func Digest(prev []byte, r Record) ([]byte, error) {
	sum, err := ContentSum(r)
	if err != nil {
		return nil, err
	}
	return Link(prev, r.ID, sum), nil
}

// Link is the chain hash of the record numbered id with the given content
// sum, following prev. It is cheap, so the store computes it under its chain
// lock while the content sums were computed beforehand, concurrently.
func Link(prev []byte, id int64, sum []byte) []byte {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	h.Write([]byte("homeplane-audit-v1"))
	n := binary.PutUvarint(buf[:], uint64(len(prev)))
	h.Write(buf[:n])
	h.Write(prev)
	n = binary.PutVarint(buf[:], id)
	h.Write(buf[:n])
	h.Write(sum)
	return h.Sum(nil)
}

// ContentSum is SHA-256 over every stored field of r but its ID and chain
// links. JSON values are hashed in canonical form (CanonicalJSON) so that
// the database's own JSON formatting does not matter.
//
// The security event fields (Action, Detail, ClientAddr) are hashed only
// when one of them is set, after all the others and behind a tag of their
// own: a record without them hashes exactly as records did before they
// existed, so those records still verify, and the encoding stays
// unambiguous because the fields before the tag are self-delimiting.
func ContentSum(r Record) ([]byte, error) {
	var js [4][]byte
	for i, v := range []any{r.Slots, r.Executed, r.Answer, r.Detail} {
		b, err := CanonicalJSON(v)
		if err != nil {
			return nil, err
		}
		js[i] = b
	}
	return contentSum(r, js), nil
}

// securityTag opens the security event fields in the hashed content.
const securityTag = "homeplane-audit-security-v1"

func contentSum(r Record, js [4][]byte) []byte {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	put := func(b []byte) {
		n := binary.PutUvarint(buf[:], uint64(len(b)))
		h.Write(buf[:n])
		h.Write(b)
	}
	num := func(v int64) {
		n := binary.PutVarint(buf[:], v)
		h.Write(buf[:n])
	}
	for _, s := range []string{r.RequestID, r.Kind, r.UserID, r.HomeID, r.DeviceID, r.Text, r.Intent, r.Parser, r.Outcome, r.Error} {
		put([]byte(s))
	}
	num(r.Time.UnixMicro())
	for _, b := range js[:3] {
		put(b)
	}
	for _, v := range []int64{r.ParseUS, r.ResolveUS, r.ExecuteUS, r.TotalUS, int64(r.LLMTokens)} {
		num(v)
	}
	if r.Action != "" || js[3] != nil || r.ClientAddr.IsValid() {
		put([]byte(securityTag))
		put([]byte(r.Action))
		put(js[3])
		var addr []byte
		if r.ClientAddr.IsValid() {
			addr, _ = r.ClientAddr.MarshalText()
		}
		put(addr)
	}
	return h.Sum(nil)
}

// CanonicalJSON encodes v with sorted keys and no insignificant space, the
// bytes a round trip through generic values gives (see appendCanonical), so
// that equal JSON gives equal bytes. A nil value (or nil map, or JSON null)
// gives nil.
func CanonicalJSON(v any) ([]byte, error) {
	var raw []byte
	switch t := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		if t == nil {
			return nil, nil
		}
	case json.RawMessage:
		raw = t
	case []byte:
		raw = t
	}
	if raw == nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	b, null, err := appendCanonical(nil, raw)
	if err != nil || null {
		return nil, err
	}
	return b, nil
}
