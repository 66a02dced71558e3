package hasim

import (
	"fmt"
	"regexp"
)

// AlarmControlPanelEntityFeature bits (core alarm_control_panel/const.py).
const (
	alarmArmHome         = 1
	alarmArmAway         = 2
	alarmArmNight        = 4
	alarmTrigger         = 8
	alarmArmCustomBypass = 16
	alarmArmVacation     = 32
)

// alarmCodeAttr is a simulator-only attribute of the home file: the code the
// panel accepts. It never shows in the state, as a real panel's code does not.
const alarmCodeAttr = "code"

func alarmServices() map[string]serviceSpec {
	arm := func(state string, feature int) serviceSpec {
		return serviceSpec{fields: []string{"code"}, features: feature, apply: alarmTo(state, true)}
	}
	return map[string]serviceSpec{
		"alarm_disarm":            {fields: []string{"code"}, apply: alarmTo("disarmed", false)},
		"alarm_arm_home":          arm("armed_home", alarmArmHome),
		"alarm_arm_away":          arm("armed_away", alarmArmAway),
		"alarm_arm_night":         arm("armed_night", alarmArmNight),
		"alarm_arm_vacation":      arm("armed_vacation", alarmArmVacation),
		"alarm_arm_custom_bypass": arm("armed_custom_bypass", alarmArmCustomBypass),
		"alarm_trigger":           {fields: []string{"code"}, features: alarmTrigger, apply: alarmTo("triggered", false)},
	}
}

// alarmTo sets the panel's state. Arming without a code, when the panel has
// a code format and requires a code to arm, is refused as core's
// check_code_arm_required does; a code that is not the panel's is refused as
// the integrations do (the simulated integration accepts only its own).
func alarmTo(state string, arming bool) handler {
	return func(s *Server, st State, data map[string]any) ([]write, error) {
		code, hasCode := data["code"].(string)
		if _, present := data["code"]; present && !hasCode {
			return nil, invalid("expected str for dictionary value @ data['code']")
		}
		format, _ := st.Attributes["code_format"].(string)
		required := true
		if v, ok := st.Attributes["code_arm_required"].(bool); ok {
			required = v
		}
		if arming && format != "" && required && code == "" {
			return nil, &validationError{key: "code_arm_required",
				msg:          fmt.Sprintf("Arming requires a code but none was given for %s", st.EntityID),
				placeholders: map[string]string{"entity_id": st.EntityID}}
		}
		want, _ := s.memory[st.EntityID][alarmCodeAttr].(string)
		needCode := want != "" && (!arming || required)
		if needCode && code != want || code != "" && !codeMatches(format, code) {
			return nil, &validationError{key: "invalid_code", msg: "Invalid alarm code provided"}
		}
		return []write{{state, st.Attributes}}, nil
	}
}

// codeMatches checks a code against a panel's code_format ("number" or
// "text"; any other value is taken as a regular expression, as locks do).
func codeMatches(format, code string) bool {
	switch format {
	case "", "text":
		return true
	case "number":
		return regexp.MustCompile(`^\d+$`).MatchString(code)
	}
	re, err := regexp.Compile("^(?:" + format + ")$")
	return err != nil || re.MatchString(code)
}
