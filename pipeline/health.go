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
	arn     string
	healthy int
	// bad lists the targets neither healthy nor draining, with their state.
	bad []string
}

// readHealth asks ELB for the health of every target of tg.
func (r *run) readHealth(ctx context.Context, tg string) (tgHealth, error) {
	out, err := r.aws.ELB.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return tgHealth{}, fmt.Errorf("describe target health of %s: %w", tg, err)
	}
	h := tgHealth{arn: tg}
	for _, d := range out.TargetHealthDescriptions {
		switch state := d.TargetHealth.State; state {
		case elbtypes.TargetHealthStateEnumHealthy:
			h.healthy++
		case elbtypes.TargetHealthStateEnumDraining:
		default:
			h.bad = append(h.bad, fmt.Sprintf("%s:%d %s (%s)", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), state, d.TargetHealth.Reason))
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
