package intent

import (
	"slices"
	"strings"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// RefKind says what a registry phrase names.
type RefKind uint8

// Kinds of registry phrases.
const (
	RefEntity RefKind = iota + 1
	RefArea
	RefFloor
)

// Ref is one thing a phrase in a sentence can name: an entity, area or floor
// (Index into the registry's slices) and the name or alias as registered.
type Ref struct {
	Kind RefKind
	// variant: found by a key made from the name (its number said the
	// other way, a word split or joined, another spelling), which an
	// exact name of the same kind outranks. Beside Kind it costs no room.
	variant bool
	Index   int
	Name    string
}

type trieNode struct {
	next map[string]*trieNode
	refs []Ref
}

// Index is an immutable snapshot of a home's entities, areas and floors
// with normalized indices for matching spoken names. It is safe for
// concurrent use.
type Index struct {
	entities []*homeplanev1.Entity
	areas    []*homeplanev1.Area
	floors   []*homeplanev1.Floor

	entityByID map[string]int
	areaByID   map[string]int
	floorByID  map[string]int
	// normalized name or alias → indices
	entityNames map[string][]int
	areaNames   map[string]int
	floorNames  map[string]int
	// sharedAreas holds the names that several areas carry ("Bedroom" on
	// each floor of a villa) → their indices; most homes have none.
	sharedAreas map[string][]int

	// entity indices by area id and by domain, so that resolving "the
	// kitchen lights" does not walk every entity of a large home
	byArea   map[string][]int
	byDomain map[string][]int
	// entityArea is each entity's area index (-1 for none or an unknown
	// area), so that filtering by floor does not look up ids per entity.
	entityArea []int32
	// normalized holds the normalized form of every registered name and
	// alias as written, since slots carry names as registered and
	// resolution would otherwise normalize them again for every sentence.
	normalized map[string]string

	root      trieNode
	maxTokens int
}

// NewIndex indexes the given entities, areas and floors once. The slices
// and messages must not be modified afterwards.
func NewIndex(entities []*homeplanev1.Entity, areas []*homeplanev1.Area, floors []*homeplanev1.Floor) *Index {
	r := &Index{
		entities:    entities,
		areas:       areas,
		floors:      floors,
		entityByID:  make(map[string]int, len(entities)),
		areaByID:    make(map[string]int, len(areas)),
		floorByID:   make(map[string]int, len(floors)),
		entityNames: make(map[string][]int, len(entities)),
		areaNames:   make(map[string]int, len(areas)),
		floorNames:  make(map[string]int, len(floors)),
		entityArea:  make([]int32, len(entities)),
		normalized:  make(map[string]string, len(entities)+len(areas)+len(floors)),
	}
	// Scratch space for the names and keys of one thing at a time: a
	// registry change rebuilds the index, so its garbage counts.
	var nameBuf, keyBuf, seen []string
	for i, f := range floors {
		r.floorByID[f.GetId()] = i
		nameBuf = names(nameBuf[:0], f.GetName(), f.GetAliases())
		for _, n := range nameBuf {
			keyBuf = r.spokenKeys(keyBuf[:0], n)
			for j, k := range keyBuf {
				if _, ok := r.floorNames[k]; !ok {
					r.floorNames[k] = i
				}
				r.add(k, Ref{Kind: RefFloor, Index: i, Name: n, variant: j > 0})
			}
		}
	}
	for i, a := range areas {
		r.areaByID[a.GetId()] = i
		nameBuf = names(nameBuf[:0], a.GetName(), a.GetAliases())
		for _, n := range nameBuf {
			keyBuf = r.spokenKeys(keyBuf[:0], n)
			for j, k := range keyBuf {
				if first, ok := r.areaNames[k]; !ok {
					r.areaNames[k] = i
				} else if first != i && !slices.Contains(r.sharedAreas[k], i) {
					if r.sharedAreas == nil {
						r.sharedAreas = map[string][]int{}
					}
					if len(r.sharedAreas[k]) == 0 {
						r.sharedAreas[k] = []int{first}
					}
					r.sharedAreas[k] = append(r.sharedAreas[k], i)
				}
				r.add(k, Ref{Kind: RefArea, Index: i, Name: n, variant: j > 0})
			}
		}
	}
	r.byArea = make(map[string][]int, len(areas))
	r.byDomain = make(map[string][]int)
	for i, e := range entities {
		r.entityByID[e.GetEntityId()] = i
		r.byArea[e.GetAreaId()] = append(r.byArea[e.GetAreaId()], i)
		r.byDomain[e.GetDomain()] = append(r.byDomain[e.GetDomain()], i)
		r.entityArea[i] = -1
		if a, ok := r.areaByID[e.GetAreaId()]; ok {
			r.entityArea[i] = int32(a)
		}
		seen = seen[:0]
		nameBuf = names(nameBuf[:0], e.GetName(), e.GetAliases())
		for _, n := range nameBuf {
			keyBuf = r.spokenKeys(keyBuf[:0], n)
			for j, k := range keyBuf {
				if slices.Contains(seen, k) {
					continue
				}
				seen = append(seen, k)
				r.entityNames[k] = append(r.entityNames[k], i)
				r.add(k, Ref{Kind: RefEntity, Index: i, Name: n, variant: j > 0})
			}
		}
	}
	return r
}

// WithStates returns the index for a registry that differs from this one's
// at most in entity states, attributes and last_changed: the same entities
// in the same order, with the same ids, names, aliases, domains, device
// classes and areas, and equal areas and floors. What the index derives
// from names is shared; answers read states from the new entities. Given
// slices of other lengths, it indexes them afresh.
func (r *Index) WithStates(entities []*homeplanev1.Entity, areas []*homeplanev1.Area, floors []*homeplanev1.Floor) *Index {
	if len(entities) != len(r.entities) || len(areas) != len(r.areas) || len(floors) != len(r.floors) {
		return NewIndex(entities, areas, floors)
	}
	next := *r
	next.entities, next.areas, next.floors = entities, areas, floors
	return &next
}

// spokenKeys appends to dst the normalized keys a name is found by: the
// name itself and, when it holds a number, the name with the number said
// the other way.
func (r *Index) spokenKeys(dst []string, name string) []string {
	k := Normalize(name)
	r.normalized[name] = k
	if k == "" {
		return dst
	}
	dst = append(dst, k)
	if v, ok := numberVariant(k); ok {
		dst = append(dst, v)
	}
	if v, ok := splitVariant(k); ok {
		dst = append(dst, v)
		if w, ok := numberVariant(v); ok {
			dst = append(dst, w)
		}
	}
	if v, ok := spellingVariant(k); ok {
		dst = append(dst, v)
	}
	if v, ok := joinVariant(k); ok {
		dst = append(dst, v)
	}
	return dst
}

// names appends to dst a thing's name, if it has one, and its aliases.
func names(dst []string, name string, aliases []string) []string {
	if name != "" {
		dst = append(dst, name)
	}
	return append(dst, aliases...)
}

func (r *Index) add(key string, ref Ref) {
	n := &r.root
	tokens := 0
	for t := range strings.FieldsSeq(key) {
		tokens++
		if n.next == nil {
			n.next = make(map[string]*trieNode)
		}
		c := n.next[t]
		if c == nil {
			c = &trieNode{}
			n.next[t] = c
		}
		n = c
	}
	for _, have := range n.refs {
		if have.Kind == ref.Kind && (have.Index == ref.Index || ref.variant && !have.variant) {
			return // "head light" is the Head Light, not the Headlight heard as two words
		}
	}
	if !ref.variant {
		n.refs = slices.DeleteFunc(n.refs, func(have Ref) bool { return have.Kind == ref.Kind && have.variant })
	}
	n.refs = append(n.refs, ref)
	if tokens > r.maxTokens {
		r.maxTokens = tokens
	}
}

// Match finds the longest registered name or alias that starts at
// tokens[start] (tokens being normalized words) and returns its length in
// tokens and what it names. n is 0 when nothing matches. The returned slice
// is shared and must not be modified.
func (r *Index) Match(tokens []string, start int) (n int, refs []Ref) {
	return r.root.longest(tokens, start, start, 0, nil)
}

// longest follows tokens[from:] down from node and returns the longest
// name it passes, its length counted from tokens[start]; n and refs are
// what matched before from.
func (node *trieNode) longest(tokens []string, start, from, n int, refs []Ref) (int, []Ref) {
	for i := from; i < len(tokens); i++ {
		node = node.next[tokens[i]]
		if node == nil {
			break
		}
		if len(node.refs) > 0 {
			n, refs = i-start+1, node.refs
		}
	}
	return n, refs
}

// MatchJoined is Match for a name whose first word the recogniser heard
// as two: "green house fan" for Greenhouse Fan, "drive way" for Driveway.
// It joins tokens[start] and tokens[start+1] and returns the length in the
// tokens as said, counting the two words, or 0.
func (r *Index) MatchJoined(tokens []string, start int) (n int, refs []Ref) {
	if start+1 >= len(tokens) {
		return 0, nil
	}
	var buf [32]byte
	a, b := tokens[start], tokens[start+1]
	if len(a)+len(b) > len(buf) {
		return 0, nil
	}
	node := r.root.next[string(append(append(buf[:0], a...), b...))]
	if node == nil {
		return 0, nil
	}
	if len(node.refs) > 0 {
		n, refs = 2, node.refs
	}
	return node.longest(tokens, start, start+2, n, refs)
}

// MatchPossessive is Match for a name spoken in the possessive, its
// apostrophe already dropped: "macrotorrents" in "macrotorrent's speed".
func (r *Index) MatchPossessive(tokens []string, start int) (n int, refs []Ref) {
	node := &r.root
	for i := start; i < len(tokens) && node != nil; i++ {
		t := tokens[i]
		// "bedroom 2's" arrives as "bedroom 2s"; short words like "is" are no possessives.
		if (len(t) > 2 || len(t) == 2 && t[0] >= '0' && t[0] <= '9') && t[len(t)-1] == 's' {
			if p := node.next[t[:len(t)-1]]; p != nil && len(p.refs) > 0 {
				n, refs = i-start+1, p.refs
			}
		}
		node = node.next[t]
	}
	return n, refs
}

// MatchNumber is Match for a name whose last word is said in the other
// number: "the back door" for Back Doors, "the port lights" for Port
// Light. It finds only names longer than one word.
func (r *Index) MatchNumber(tokens []string, start int) (n int, refs []Ref) {
	node := &r.root
	for i := start; i < len(tokens) && node != nil; i++ {
		if i > start {
			if p := node.next[otherNumber(tokens[i])]; p != nil && len(p.refs) > 0 {
				n, refs = i-start+1, p.refs
			}
		}
		node = node.next[tokens[i]]
	}
	return n, refs
}

// otherNumber returns a noun in the other number, by its last "s".
func otherNumber(t string) string {
	if len(t) > 3 && t[len(t)-1] == 's' && t[len(t)-2] != 's' {
		return t[:len(t)-1]
	}
	return t + "s"
}

// MatchAll calls fn for every registered phrase starting at tokens[start],
// shortest first.
func (r *Index) MatchAll(tokens []string, start int, fn func(n int, refs []Ref)) {
	node := &r.root
	for i := start; i < len(tokens); i++ {
		node = node.next[tokens[i]]
		if node == nil {
			return
		}
		if len(node.refs) > 0 {
			fn(i-start+1, node.refs)
		}
	}
}

// Entities returns every entity. The slice must not be modified.
func (r *Index) Entities() []*homeplanev1.Entity { return r.entities }

// Areas returns every area. The slice must not be modified.
func (r *Index) Areas() []*homeplanev1.Area { return r.areas }

// Floors returns every floor. The slice must not be modified.
func (r *Index) Floors() []*homeplanev1.Floor { return r.floors }

// Entity returns the entity at index i.
func (r *Index) Entity(i int) *homeplanev1.Entity { return r.entities[i] }

// Area returns the area at index i.
func (r *Index) Area(i int) *homeplanev1.Area { return r.areas[i] }

// Floor returns the floor at index i.
func (r *Index) Floor(i int) *homeplanev1.Floor { return r.floors[i] }

// EntityByID returns the entity with that id.
func (r *Index) EntityByID(id string) (*homeplanev1.Entity, bool) {
	i, ok := r.entityByID[id]
	if !ok {
		return nil, false
	}
	return r.entities[i], true
}

// AreaByID returns the area with that id.
func (r *Index) AreaByID(id string) (*homeplanev1.Area, bool) {
	i, ok := r.areaByID[id]
	if !ok {
		return nil, false
	}
	return r.areas[i], true
}

// Here settles the voice device's area against the registry. The area a
// device was paired with may be an area id: it becomes the room's name for
// the parsers, which speak names, and stays as AreaID, so a name two
// floors share ("Bedroom") still means the device's own room. An id the
// home no longer has is dropped and the name kept.
func (r *Index) Here(pc Context) Context {
	if pc.AreaID == "" {
		pc.AreaID = pc.Area
	}
	a, ok := r.AreaByID(pc.AreaID)
	if !ok {
		pc.AreaID = ""
		return pc
	}
	pc.Area = a.GetName()
	return pc
}

// key normalizes a name, without work for one registered as written.
func (r *Index) key(name string) string {
	if k, ok := r.normalized[name]; ok {
		return k
	}
	return Normalize(name)
}

// AreaByName finds an area by name or alias, ignoring case and punctuation.
func (r *Index) AreaByName(name string) (*homeplanev1.Area, bool) {
	i, ok := r.areaIndex(name)
	if !ok {
		return nil, false
	}
	return r.areas[i], true
}

func (r *Index) areaIndex(name string) (int, bool) {
	i, ok := r.areaNames[r.key(name)]
	return i, ok
}

// AreasNamed returns every area whose name or alias is name: more than one
// where rooms of one name sit on different floors. The slice must not be
// modified.
func (r *Index) AreasNamed(name string) []*homeplanev1.Area {
	k := r.key(name)
	if shared, ok := r.sharedAreas[k]; ok {
		out := make([]*homeplanev1.Area, len(shared))
		for j, i := range shared {
			out[j] = r.areas[i]
		}
		return out
	}
	if i, ok := r.areaNames[k]; ok {
		return r.areas[i : i+1]
	}
	return nil
}

// AreaShared reports whether several areas carry the name.
func (r *Index) AreaShared(name string) bool {
	_, ok := r.sharedAreas[r.key(name)]
	return ok
}

// FloorByName finds a floor by name or alias, ignoring case and punctuation.
func (r *Index) FloorByName(name string) (*homeplanev1.Floor, bool) {
	i, ok := r.floorIndex(name)
	if !ok {
		return nil, false
	}
	return r.floors[i], true
}

func (r *Index) floorIndex(name string) (int, bool) {
	i, ok := r.floorNames[r.key(name)]
	return i, ok
}

// EntitiesNamed returns the indices of the entities whose name or alias is
// name, ignoring case and punctuation.
func (r *Index) EntitiesNamed(name string) []int {
	return r.entityNames[r.key(name)]
}

// AreaName returns the name of the area with that id, or "".
func (r *Index) AreaName(id string) string {
	if a, ok := r.AreaByID(id); ok {
		return a.GetName()
	}
	return ""
}

// entityFloorID returns the floor id of entity i's area, or "".
func (r *Index) entityFloorID(i int) string {
	if a := r.entityArea[i]; a >= 0 {
		return r.areas[a].GetFloorId()
	}
	return ""
}

// entityAreaName returns the name of entity i's area, or "".
func (r *Index) entityAreaName(i int) string {
	if a := r.entityArea[i]; a >= 0 {
		return r.areas[a].GetName()
	}
	return ""
}

// FloorIDOfArea returns the floor id of the area with that id, or "".
func (r *Index) FloorIDOfArea(id string) string {
	if a, ok := r.AreaByID(id); ok {
		return a.GetFloorId()
	}
	return ""
}
