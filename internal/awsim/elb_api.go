package awsim

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"ecs-deploy/internal/awsproto"
)

type queryHandler func(s *Server, in qmap) (any, error)

var elbOps = map[string]queryHandler{
	"CreateLoadBalancer":    (*Server).elbCreateLoadBalancer,
	"DescribeLoadBalancers": (*Server).elbDescribeLoadBalancers,
	"CreateTargetGroup":     (*Server).elbCreateTargetGroup,
	"DescribeTargetGroups":  (*Server).elbDescribeTargetGroups,
	"CreateListener":        (*Server).elbCreateListener,
	"DescribeListeners":     (*Server).elbDescribeListeners,
	"CreateRule":            (*Server).elbCreateRule,
	"DescribeRules":         (*Server).elbDescribeRules,
	"SetRulePriorities":     (*Server).elbSetRulePriorities,
	"ModifyRule":            (*Server).elbModifyRule,
	"DeleteRule":            (*Server).elbDeleteRule,
	"RegisterTargets":       (*Server).elbRegisterTargets,
	"DeregisterTargets":     (*Server).elbDeregisterTargets,
	"DescribeTargetHealth":  (*Server).elbDescribeTargetHealth,
	"ModifyTargetGroup":     (*Server).elbModifyTargetGroup,
	"ModifyListener":        (*Server).elbModifyListener,

	"DescribeTargetGroupAttributes": (*Server).elbDescribeTargetGroupAttributes,
	"ModifyTargetGroupAttributes":   (*Server).elbModifyTargetGroupAttributes,
}

func (s *Server) serveELB(w http.ResponseWriter, op string, form url.Values) {
	h, ok := elbOps[op]
	if !ok {
		awsproto.WriteError(w, awsproto.ProtocolQuery, elbXMLNS, awsproto.Errorf("InvalidAction", "The action %s is not valid for this web service.", op))
		return
	}
	in, err := parseQuery(form)
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, elbXMLNS, awsproto.AsError(err))
		return
	}
	// The answer is encoded under the lock: it points into the state.
	var buf bytes.Buffer
	s.lock()
	out, err := h(s, in)
	s.refresh()
	if err == nil {
		err = writeQueryResult(&buf, op, elbXMLNS, out)
	}
	s.mu.Unlock()
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, elbXMLNS, awsproto.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", awsproto.RequestID())
	_, _ = w.Write(buf.Bytes())
}

func validationErr(format string, args ...any) error {
	return awsproto.Errorf("ValidationError", format, args...)
}

// rangeErr refuses a number outside a member's modelled range, in the words
// AWS's request validation uses.
func rangeErr(field string, v, lo, hi int) error {
	switch {
	case v < lo:
		return validationErr("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, field, lo)
	case v > hi:
		return validationErr("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, field, hi)
	}
	return nil
}

// enumErr refuses a value outside a member's enum, in the words AWS's
// request validation uses.
func enumErr(field, v string, values []string) error {
	return validationErr("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, field, strings.Join(values, ", "))
}

// markerPage pages items with the query protocol's Marker and PageSize; a
// limit above 0 (LimitPages) makes pages shorter still, as AWS may.
func markerPage[T any](items []T, in qmap, limit int) ([]T, string, error) {
	size, err := in.intOr("PageSize", 400)
	if err != nil {
		return nil, "", err
	}
	if err := rangeErr("pageSize", size, 1, 400); err != nil {
		return nil, "", err
	}
	start, err := in.intOr("Marker", 0)
	if err != nil || start < 0 || start > len(items) {
		return nil, "", validationErr("Marker %q is not valid", in.str("Marker"))
	}
	if limit > 0 {
		size = min(size, limit)
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func elbTags(in qmap) []elbTag {
	var out []elbTag
	for _, t := range in.structs("Tags") {
		out = append(out, elbTag{Key: t.str("Key"), Value: t.str("Value")})
	}
	return out
}
