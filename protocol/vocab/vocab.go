// Package vocab is the vocabulary of the MQTT payloads that agents and
// central both speak: why a command failed (CommandError) and what an
// instance event reports (InstanceEventKind). Both are enums; each is also
// written as text in an older string field, for the other end when it
// predates the enum. The text is the enum value's name in lowercase without
// its prefix, so neither end spells it out.
package vocab

import (
	"strings"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const (
	codePrefix = "COMMAND_ERROR_"
	kindPrefix = "INSTANCE_EVENT_KIND_"
)

// Fail returns a failed Result with code, in both fields, and msg.
func Fail(code homeplanev1.CommandError, msg string) *homeplanev1.Result {
	return &homeplanev1.Result{Code: code, ErrorCode: CodeName(code), Error: msg}
}

// CodeName is the text of code in Result.error_code, "" for UNSPECIFIED.
func CodeName(code homeplanev1.CommandError) string {
	return name(code.String(), codePrefix)
}

// CodeOf is why res failed, read from the older text field when an older
// agent left code unset: UNSPECIFIED when res is ok, INTERNAL when the
// reason is unknown.
func CodeOf(res *homeplanev1.Result) homeplanev1.CommandError {
	switch {
	case res.GetCode() != homeplanev1.CommandError_COMMAND_ERROR_UNSPECIFIED:
		if _, known := homeplanev1.CommandError_name[int32(res.GetCode())]; known {
			return res.GetCode()
		}
	case res.GetOk():
		return homeplanev1.CommandError_COMMAND_ERROR_UNSPECIFIED
	default:
		if v, ok := homeplanev1.CommandError_value[value(res.GetErrorCode(), codePrefix)]; ok && v != 0 {
			return homeplanev1.CommandError(v)
		}
	}
	return homeplanev1.CommandError_COMMAND_ERROR_INTERNAL
}

// Event returns an InstanceEvent of kind, in both fields.
func Event(kind homeplanev1.InstanceEventKind) *homeplanev1.InstanceEvent {
	return &homeplanev1.InstanceEvent{Type: kind, Kind: KindName(kind)}
}

// KindName is the text of kind in InstanceEvent.kind, "" for UNSPECIFIED.
func KindName(kind homeplanev1.InstanceEventKind) string {
	return name(kind.String(), kindPrefix)
}

// KindOf is what ev reports, read from the older text field when an older
// agent left type unset; UNSPECIFIED when neither names a known kind.
func KindOf(ev *homeplanev1.InstanceEvent) homeplanev1.InstanceEventKind {
	if t := ev.GetType(); t != homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UNSPECIFIED {
		if _, known := homeplanev1.InstanceEventKind_name[int32(t)]; known {
			return t
		}
		return homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_UNSPECIFIED
	}
	return homeplanev1.InstanceEventKind(homeplanev1.InstanceEventKind_value[value(ev.GetKind(), kindPrefix)])
}

func name(enumName, prefix string) string {
	if strings.HasSuffix(enumName, "_UNSPECIFIED") {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(enumName, prefix))
}

// value is the enum name text stands for; the text is bounded by the
// caller's message size, and only a known name matches.
func value(text, prefix string) string {
	if text == "" || len(text) > 64 {
		return ""
	}
	return prefix + strings.ToUpper(text)
}
