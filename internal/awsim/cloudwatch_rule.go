package awsim

import (
	"fmt"
	"strings"
	"unicode"
)

// alarmRule is a parsed composite alarm rule: the functions ALARM(name),
// OK(name) and INSUFFICIENT_DATA(name) over alarm names or ARNs (quoted or
// not), the constants TRUE and FALSE, and NOT, AND and OR (binding in that
// order) with parentheses. That is all of the AlarmRule syntax of the
// PutCompositeAlarm API reference except AT_LEAST, which is not emulated.
type alarmRule interface {
	// eval says whether the rule holds, given each alarm's state.
	eval(state func(ref string) string) bool
	// refs appends the alarms the rule names.
	refs(out []string) []string
}

type (
	ruleConst bool
	ruleState struct{ want, ref string }
	ruleNot   struct{ x alarmRule }
	ruleAnd   struct{ l, r alarmRule }
	ruleOr    struct{ l, r alarmRule }
)

func (c ruleConst) eval(func(string) string) bool    { return bool(c) }
func (c ruleConst) refs(out []string) []string       { return out }
func (f ruleState) eval(st func(string) string) bool { return st(f.ref) == f.want }
func (f ruleState) refs(out []string) []string       { return append(out, f.ref) }
func (n ruleNot) eval(st func(string) string) bool   { return !n.x.eval(st) }
func (n ruleNot) refs(out []string) []string         { return n.x.refs(out) }
func (a ruleAnd) eval(st func(string) string) bool   { return a.l.eval(st) && a.r.eval(st) }
func (a ruleAnd) refs(out []string) []string         { return a.r.refs(a.l.refs(out)) }
func (o ruleOr) eval(st func(string) string) bool    { return o.l.eval(st) || o.r.eval(st) }
func (o ruleOr) refs(out []string) []string          { return o.r.refs(o.l.refs(out)) }

type ruleParser struct {
	toks []string
	pos  int
}

// parseAlarmRule parses an AlarmRule expression.
func parseAlarmRule(src string) (alarmRule, error) {
	if strings.TrimSpace(src) != src {
		return nil, fmt.Errorf("AlarmRule must not contain leading or trailing whitespace")
	}
	toks, err := tokenizeRule(src)
	if err != nil {
		return nil, err
	}
	p := &ruleParser{toks: toks}
	r, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q in AlarmRule", p.toks[p.pos])
	}
	return r, nil
}

// tokenizeRule splits a rule into words, parentheses and quoted names (kept
// with their quotes).
func tokenizeRule(src string) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := rune(src[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == '"':
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted alarm name in AlarmRule")
			}
			toks = append(toks, src[i:i+end+2])
			i += end + 2
		default:
			j := i
			for j < len(src) && !unicode.IsSpace(rune(src[j])) && src[j] != '(' && src[j] != ')' {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	return toks, nil
}

func (p *ruleParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *ruleParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *ruleParser) or() (alarmRule, error) {
	l, err := p.and()
	for err == nil && p.peek() == "OR" {
		p.next()
		var r alarmRule
		if r, err = p.and(); err == nil {
			l = ruleOr{l, r}
		}
	}
	return l, err
}

func (p *ruleParser) and() (alarmRule, error) {
	l, err := p.not()
	for err == nil && p.peek() == "AND" {
		p.next()
		var r alarmRule
		if r, err = p.not(); err == nil {
			l = ruleAnd{l, r}
		}
	}
	return l, err
}

func (p *ruleParser) not() (alarmRule, error) {
	if p.peek() == "NOT" {
		p.next()
		x, err := p.not()
		return ruleNot{x}, err
	}
	return p.term()
}

func (p *ruleParser) term() (alarmRule, error) {
	switch t := p.next(); t {
	case "TRUE", "FALSE":
		return ruleConst(t == "TRUE"), nil
	case "(":
		r, err := p.or()
		if err == nil && p.next() != ")" {
			err = fmt.Errorf("missing ) in AlarmRule")
		}
		return r, err
	case "ALARM", "OK", "INSUFFICIENT_DATA":
		if p.next() != "(" {
			return nil, fmt.Errorf("%s must be followed by an alarm name in parentheses", t)
		}
		var name []string
		for p.peek() != ")" && p.peek() != "" {
			name = append(name, p.next())
		}
		if p.next() != ")" || len(name) == 0 {
			return nil, fmt.Errorf("%s( names no alarm or is not closed", t)
		}
		ref := strings.Trim(strings.Join(name, " "), `"`)
		return ruleState{want: t, ref: ref}, nil
	case "":
		return nil, fmt.Errorf("AlarmRule ends early")
	default:
		return nil, fmt.Errorf("unexpected %q in AlarmRule", t)
	}
}
