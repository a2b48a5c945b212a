package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// tgHealth is what a target group's health checks say now.
type tgHealth struct {
	healthy int
	// bad lists the targets neither healthy nor draining, with their state;
	// failing those among them that fail their checks (unhealthy or
	// unavailable), not merely starting (initial).
	bad, failing []string
}

// readHealth asks ELB for the health of every target of tg.
func (r *run) readHealth(ctx context.Context, tg string) (tgHealth, error) {
	out, err := r.aws.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return tgHealth{}, fmt.Errorf("describe target health of %s: %w", tg, err)
	}
	var h tgHealth
	for _, d := range out.TargetHealthDescriptions {
		switch state := d.TargetHealth.State; state {
		case elbtypes.TargetHealthStateEnumHealthy:
			h.healthy++
		case elbtypes.TargetHealthStateEnumDraining:
		default:
			desc := fmt.Sprintf("%s:%d %s (%s)", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), state, d.TargetHealth.Reason)
			h.bad = append(h.bad, desc)
			if state == elbtypes.TargetHealthStateEnumUnhealthy || state == elbtypes.TargetHealthStateEnumUnavailable {
				h.failing = append(h.failing, desc)
			}
		}
	}
	return h, nil
}

// readyForAll says whether the target group may take traffic for a new
// build: at least want targets, all of them healthy. If not, why not.
func (h tgHealth) readyForAll(want int) (bool, string) {
	want = max(want, 1)
	if len(h.bad) == 0 && h.healthy >= want {
		return true, ""
	}
	return false, h.describe(want)
}

// servingWell says whether a target group that serves is well: no target
// fails its health checks and at least one is healthy. Targets still
// starting (a scale-out, a replaced task) do not count against it.
func (h tgHealth) servingWell() (bool, string) {
	if len(h.failing) == 0 && h.healthy > 0 {
		return true, ""
	}
	s := fmt.Sprintf("%d healthy targets", h.healthy)
	if len(h.failing) > 0 {
		s += "; " + strings.Join(h.failing, ", ")
	}
	return false, s
}

// readyForSome says whether the target group may take traffic back in a
// rollback: at least want healthy targets, whatever the others say, so one
// flapping target does not keep a bad build serving.
func (h tgHealth) readyForSome(want int) (bool, string) {
	want = max(want, 1)
	if h.healthy >= want {
		return true, ""
	}
	return false, h.describe(want)
}

// describe says how many targets are healthy, of the want needed when want
// is above 0, and which are not.
func (h tgHealth) describe(want int) string {
	s := fmt.Sprintf("%d healthy targets", h.healthy)
	if want > 0 {
		s += fmt.Sprintf(" of the %d needed", want)
	}
	if len(h.bad) > 0 {
		s += "; " + strings.Join(h.bad, ", ")
	}
	return s
}
