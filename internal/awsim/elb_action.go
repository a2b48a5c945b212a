package awsim

import (
	"slices"
	"strconv"

	"ecs-deploy/internal/awsproto"
)

var actionTypes = []string{"forward", "authenticate-oidc", "authenticate-cognito", "redirect", "fixed-response"}

// maxTargetGroupsPerAction is the Application Load Balancer quota of target
// groups in one forward action; it cannot be raised.
const maxTargetGroupsPerAction = 5

// normalizeActions checks actions and fills in what ELB fills in: the order,
// and the forward config of a single-target-group forward.
func (s *Server) normalizeActions(actions qlist) (qlist, error) {
	if len(actions) == 0 {
		return nil, validationErr("At least one action must be specified")
	}
	out := make(qlist, 0, len(actions))
	for i, a := range actions {
		m, ok := a.(qmap)
		if !ok {
			return nil, validationErr("Actions.member.%d is not a structure", i+1)
		}
		n := qmap{}
		for k, v := range m {
			n[k] = v
		}
		if n.str("Order") == "" {
			n["Order"] = itoa(i + 1)
		}
		order, err := strconv.Atoi(n.str("Order"))
		if err != nil {
			return nil, validationErr("Actions.member.%d.Order %q is not an integer", i+1, n.str("Order"))
		}
		if err := rangeErr("actions."+itoa(i+1)+".member.order", order, 1, 50000); err != nil {
			return nil, err
		}
		switch typ := n.str("Type"); {
		case typ == "":
			return nil, validationErr("1 validation error detected: Value null at 'actions.%d.member.type' failed to satisfy constraint: Member must not be null", i+1)
		case !slices.Contains(actionTypes, typ):
			return nil, enumErr("actions."+itoa(i+1)+".member.type", typ, actionTypes)
		case typ == "forward":
			if err := s.normalizeForward(n); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// normalizeForward checks a forward action: it names its target groups with
// TargetGroupArn, ForwardConfig, or both when they agree on one target group;
// ForwardConfig holds one to five target groups, each weighing 0 to 999
// (a weight may be left out only when there is one); every target group
// exists. It fills in the ForwardConfig of a TargetGroupArn forward and the
// TargetGroupArn of a single-target-group ForwardConfig, as DescribeRules
// shows them.
func (s *Server) normalizeForward(n qmap) error {
	arn, fc := n.str("TargetGroupArn"), n.sub("ForwardConfig")
	if fc == nil {
		if arn == "" {
			return validationErr("A target group ARN or a forward config must be specified for a forward action")
		}
		n["ForwardConfig"] = qmap{
			"TargetGroups":                qlist{qmap{"TargetGroupArn": arn, "Weight": "1"}},
			"TargetGroupStickinessConfig": qmap{"Enabled": "false"},
		}
		return s.checkTargetGroupExists(arn)
	}
	tgs := fc.structs("TargetGroups")
	switch {
	case len(tgs) == 0:
		return validationErr("A forward config must specify at least one target group")
	case len(tgs) > maxTargetGroupsPerAction:
		return validationErr("A forward action can specify at most %d target groups", maxTargetGroupsPerAction)
	case arn != "" && (len(tgs) != 1 || tgs[0].str("TargetGroupArn") != arn):
		return validationErr("You cannot specify both a target group ARN and a forward config that names other target groups: the forward config must hold only target group '%s'", arn)
	}
	for _, tg := range tgs {
		tgArn := tg.str("TargetGroupArn")
		if tgArn == "" {
			return validationErr("A target group ARN must be specified for each target group of a forward config")
		}
		w, err := strconv.Atoi(tg.str("Weight"))
		switch {
		case tg.str("Weight") == "" && len(tgs) == 1:
			tg["Weight"] = "1"
		case err != nil || w < 0 || w > 999:
			return validationErr("The weight for each target group must be between 0 and 999, inclusive")
		}
		if err := s.checkTargetGroupExists(tgArn); err != nil {
			return err
		}
	}
	if sc := fc.sub("TargetGroupStickinessConfig"); sc.str("Enabled") == "true" {
		d, err := strconv.Atoi(sc.str("DurationSeconds"))
		if err != nil || d < 1 || d > 604800 {
			return validationErr("The target group stickiness duration must be between 1 and 604800 seconds, inclusive")
		}
	} else if sc == nil {
		fc["TargetGroupStickinessConfig"] = qmap{"Enabled": "false"}
	}
	if len(tgs) == 1 {
		n["TargetGroupArn"] = tgs[0].str("TargetGroupArn")
	}
	return nil
}

func (s *Server) checkTargetGroupExists(arn string) error {
	if _, ok := s.tgs[arn]; !ok {
		return awsproto.Errorf("TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	return nil
}
