package awsim

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"ecs-deploy/internal/awsproto"
)

// tgAttribute is a target group attribute an Application Load Balancer
// supports: its default and the values it accepts.
type tgAttribute struct {
	def   string
	valid func(string) bool
	// want describes the valid values, for the error message.
	want string
}

func intIn(lo, hi int) func(string) bool {
	return func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= lo && n <= hi
	}
}

func oneOf(vals ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(vals, v) }
}

func offOr(ok func(string) bool) func(string) bool {
	return func(v string) bool { return v == "off" || ok(v) }
}

// albAttributes are the attributes of an instance or ip target group of an
// Application Load Balancer, with the defaults and ranges of the
// TargetGroupAttribute API reference.
var albAttributes = map[string]tgAttribute{
	"deregistration_delay.timeout_seconds":                                           {"300", intIn(0, 3600), "an integer from 0 to 3600"},
	"stickiness.enabled":                                                             {"false", oneOf("true", "false"), "true or false"},
	"stickiness.type":                                                                {"lb_cookie", oneOf("lb_cookie", "app_cookie"), "lb_cookie or app_cookie"},
	"stickiness.lb_cookie.duration_seconds":                                          {"86400", intIn(1, 604800), "an integer from 1 to 604800"},
	"stickiness.app_cookie.duration_seconds":                                         {"86400", intIn(1, 604800), "an integer from 1 to 604800"},
	"stickiness.app_cookie.cookie_name":                                              {"", validCookieName, "a cookie name not starting with AWSALB, AWSALBAPP or AWSALBTG"},
	"load_balancing.algorithm.type":                                                  {"round_robin", oneOf("round_robin", "least_outstanding_requests", "weighted_random"), "round_robin, least_outstanding_requests or weighted_random"},
	"load_balancing.algorithm.anomaly_mitigation":                                    {"off", oneOf("on", "off"), "on or off"},
	"load_balancing.cross_zone.enabled":                                              {"use_load_balancer_configuration", oneOf("true", "false", "use_load_balancer_configuration"), "true, false or use_load_balancer_configuration"},
	"slow_start.duration_seconds":                                                    {"0", func(v string) bool { return v == "0" || intIn(30, 900)(v) }, "0 or an integer from 30 to 900"},
	"target_group_health.dns_failover.minimum_healthy_targets.count":                 {"off", offOr(intIn(1, 1<<31-1)), "off or an integer of at least 1"},
	"target_group_health.dns_failover.minimum_healthy_targets.percentage":            {"off", offOr(intIn(1, 100)), "off or an integer from 1 to 100"},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      {"1", intIn(1, 1<<31-1), "an integer of at least 1"},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": {"off", offOr(intIn(1, 100)), "off or an integer from 1 to 100"},
}

// lambdaAttributes are those of a Lambda target group, which has no
// deregistration delay.
var lambdaAttributes = map[string]tgAttribute{
	"lambda.multi_value_headers.enabled": {"false", oneOf("true", "false"), "true or false"},
}

func validCookieName(v string) bool {
	for _, p := range []string{"AWSALB", "AWSALBAPP", "AWSALBTG"} {
		if strings.HasPrefix(v, p) {
			return false
		}
	}
	return true
}

func (tg *targetGroup) supportedAttributes() map[string]tgAttribute {
	if tg.TargetType == "lambda" {
		return lambdaAttributes
	}
	return albAttributes
}

func defaultAttributes(tg *targetGroup) map[string]string {
	out := map[string]string{}
	for k, a := range tg.supportedAttributes() {
		out[k] = a.def
	}
	return out
}

// deregistrationDelay is how long a deregistered target of tg drains.
func (tg *targetGroup) deregistrationDelay() time.Duration {
	n, _ := strconv.Atoi(tg.attrs["deregistration_delay.timeout_seconds"])
	return time.Duration(n) * time.Second
}

type tgAttributesResult struct {
	Attributes []elbTag `xml:"Attributes>member"`
}

func (tg *targetGroup) attributeList() tgAttributesResult {
	keys := make([]string, 0, len(tg.attrs))
	for k := range tg.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := tgAttributesResult{Attributes: []elbTag{}}
	for _, k := range keys {
		out.Attributes = append(out.Attributes, elbTag{Key: k, Value: tg.attrs[k]})
	}
	return out
}

func (s *Server) findTargetGroup(arn string) (*targetGroup, error) {
	tg, ok := s.tgs[arn]
	if !ok {
		return nil, awsproto.Errorf("TargetGroupNotFound", "Target groups '%s' not found", arn)
	}
	return tg, nil
}

func (s *Server) elbDescribeTargetGroupAttributes(in qmap) (any, error) {
	if err := in.required("TargetGroupArn"); err != nil {
		return nil, err
	}
	tg, err := s.findTargetGroup(in.str("TargetGroupArn"))
	if err != nil {
		return nil, err
	}
	return tg.attributeList(), nil
}

// elbModifyTargetGroupAttributes changes attributes all at once or, when any
// key is unknown or any value out of range, not at all.
func (s *Server) elbModifyTargetGroupAttributes(in qmap) (any, error) {
	if err := in.required("TargetGroupArn", "Attributes"); err != nil {
		return nil, err
	}
	tg, err := s.findTargetGroup(in.str("TargetGroupArn"))
	if err != nil {
		return nil, err
	}
	supported := tg.supportedAttributes()
	changes := map[string]string{}
	for _, a := range in.structs("Attributes") {
		key, val := a.str("Key"), a.str("Value")
		spec, ok := supported[key]
		if !ok {
			return nil, validationErr("Target group attribute key '%s' is not recognized", key)
		}
		if !spec.valid(val) {
			return nil, validationErr("Target group attribute '%s' value '%s' is not valid: it must be %s", key, val, spec.want)
		}
		changes[key] = val
	}
	for k, v := range changes {
		tg.attrs[k] = v
	}
	return tg.attributeList(), nil
}
