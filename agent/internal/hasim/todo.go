package hasim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TodoListEntityFeature bits (core components/todo/const.py).
const (
	todoCreate       = 1
	todoDelete       = 2
	todoUpdate       = 4
	todoMove         = 8
	todoDueDate      = 16
	todoDueDatetime  = 32
	todoDescription  = 64
	todoAllFeatures  = todoCreate | todoDelete | todoUpdate | todoMove | todoDueDate | todoDueDatetime | todoDescription
	todoNeedsAction  = "needs_action"
	todoCompleted    = "completed"
	maxTodoItems     = 10000
	maxTodoItemBytes = 4096
)

// todoItem is one item of a to-do list, in get_items' shape.
type todoItem struct {
	UID         string `json:"uid"`
	Summary     string `json:"summary"`
	Status      string `json:"status"`
	Due         string `json:"due,omitempty"`
	Description string `json:"description,omitempty"`
}

func todoServices() map[string]serviceSpec {
	return map[string]serviceSpec{
		"add_item": {fields: []string{"item", "due_date", "due_datetime", "description"}, required: []string{"item"},
			features: todoCreate, apply: todoAdd},
		"update_item": {fields: []string{"item", "rename", "status", "due_date", "due_datetime", "description"}, required: []string{"item"},
			features: todoUpdate, apply: todoUpdateItem},
		"remove_item": {fields: []string{"item"}, required: []string{"item"}, features: todoDelete, apply: todoRemove},
		"remove_completed_items": {features: todoDelete, apply: func(s *Server, st State, _ map[string]any) ([]write, error) {
			items := slices.DeleteFunc(slices.Clone(s.todo[st.EntityID]), func(it todoItem) bool { return it.Status == todoCompleted })
			return s.setTodo(st, items), nil
		}},
		"get_items": {fields: []string{"status"}, response: responseOnly, apply: unchanged, answer: todoGet},
	}
}

// todoItems returns an entity's items, never nil.
func (s *Server) todoItems(id string) []todoItem {
	return slices.Clone(s.todo[id])
}

// setTodo keeps the items and writes the count of open ones as the state,
// which is what a to-do entity's state is.
func (s *Server) setTodo(st State, items []todoItem) []write {
	s.todo[st.EntityID] = items
	open := 0
	for _, it := range items {
		if it.Status == todoNeedsAction {
			open++
		}
	}
	return []write{{strconv.Itoa(open), st.Attributes}}
}

func todoFeatures(st State) int {
	f, ok := number(st.Attributes["supported_features"])
	if !ok {
		return todoAllFeatures
	}
	return int(f)
}

// todoText reads a text field: a string of bounded length.
func todoText(data map[string]any, key string) (string, bool, error) {
	v, ok := data[key]
	if !ok {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString || len(s) > maxTodoItemBytes {
		return "", true, invalid("expected str for dictionary value @ data['%s']", key)
	}
	return s, true, nil
}

// todoDetails applies due_date, due_datetime and description to it, each
// allowed only when the list supports it (core raises ServiceValidationError).
func todoDetails(st State, data map[string]any, it *todoItem) error {
	_, hasDate := data["due_date"]
	_, hasTime := data["due_datetime"]
	if hasDate && hasTime {
		return invalid("two or more values in the same group of exclusion 'due' @ data[<due>]")
	}
	for _, f := range []struct {
		key     string
		feature int
		set     func(string)
	}{
		{"due_date", todoDueDate, func(v string) { it.Due = v }},
		{"due_datetime", todoDueDatetime, func(v string) { it.Due = v }},
		{"description", todoDescription, func(v string) { it.Description = v }},
	} {
		v, ok, err := todoText(data, f.key)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if todoFeatures(st)&f.feature == 0 {
			return &validationError{key: "update_field_not_supported",
				msg: fmt.Sprintf("Entity does not support setting field: %s", f.key), placeholders: map[string]string{"service_field": f.key}}
		}
		f.set(v)
	}
	return nil
}

func todoAdd(s *Server, st State, data map[string]any) ([]write, error) {
	summary, _, err := todoText(data, "item")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(summary) == "" {
		return nil, invalid("length of value must be at least 1 for dictionary value @ data['item']")
	}
	items := s.todoItems(st.EntityID)
	if len(items) >= maxTodoItems {
		return nil, &validationError{key: "list_full", msg: "The to-do list is full"}
	}
	it := todoItem{UID: randomHex(16), Summary: summary, Status: todoNeedsAction}
	if err := todoDetails(st, data, &it); err != nil {
		return nil, err
	}
	return s.setTodo(st, append(items, it)), nil
}

// todoFind finds an item by uid, then by summary, as core's
// _find_by_uid_or_summary does.
func todoFind(items []todoItem, key string) int {
	if i := slices.IndexFunc(items, func(it todoItem) bool { return it.UID == key }); i >= 0 {
		return i
	}
	return slices.IndexFunc(items, func(it todoItem) bool { return it.Summary == key })
}

func todoNotFound(item string) error {
	return &validationError{key: "item_not_found", msg: "Unable to find to-do list item: " + item,
		placeholders: map[string]string{"item": item}}
}

func todoUpdateItem(s *Server, st State, data map[string]any) ([]write, error) {
	key, _, err := todoText(data, "item")
	if err != nil {
		return nil, err
	}
	changes := 0
	for _, k := range []string{"rename", "status", "due_date", "due_datetime", "description"} {
		if _, ok := data[k]; ok {
			changes++
		}
	}
	if changes == 0 {
		return nil, invalid("must contain at least one of rename, status, due_date, due_datetime, description.")
	}
	items := s.todoItems(st.EntityID)
	i := todoFind(items, key)
	if i < 0 {
		return nil, todoNotFound(key)
	}
	it := items[i]
	if v, ok, err := todoText(data, "rename"); err != nil {
		return nil, err
	} else if ok {
		it.Summary = v
	}
	if v, ok := data["status"]; ok {
		status, _ := v.(string)
		if status != todoNeedsAction && status != todoCompleted {
			return nil, invalid("value must be one of ['completed', 'needs_action'] for dictionary value @ data['status']")
		}
		it.Status = status
	}
	if err := todoDetails(st, data, &it); err != nil {
		return nil, err
	}
	items[i] = it
	return s.setTodo(st, items), nil
}

func todoRemove(s *Server, st State, data map[string]any) ([]write, error) {
	var keys []string
	switch v := data["item"].(type) {
	case string:
		keys = []string{v}
	case []any:
		for _, x := range v {
			k, ok := x.(string)
			if !ok {
				return nil, invalid("expected str for dictionary value @ data['item']")
			}
			keys = append(keys, k)
		}
	default:
		return nil, invalid("expected a list for dictionary value @ data['item']")
	}
	items := s.todoItems(st.EntityID)
	for _, k := range keys {
		i := todoFind(items, k)
		if i < 0 {
			return nil, todoNotFound(k)
		}
		items = slices.Delete(items, i, i+1)
	}
	return s.setTodo(st, items), nil
}

// todoGet answers get_items: {"items": [...]}, optionally only the items
// with one of the given statuses.
func todoGet(s *Server, st State, data map[string]any) any {
	var want []string
	switch v := data["status"].(type) {
	case string:
		want = []string{v}
	case []any:
		for _, x := range v {
			if str, ok := x.(string); ok {
				want = append(want, str)
			}
		}
	}
	items := []todoItem{}
	for _, it := range s.todo[st.EntityID] {
		if len(want) == 0 || slices.Contains(want, it.Status) {
			items = append(items, it)
		}
	}
	return map[string]any{"items": items}
}
