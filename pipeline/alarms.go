package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// maxAlarmNames is how many names one DescribeAlarms call may carry.
const maxAlarmNames = 100

// alarmState is one watched alarm, metric or composite.
type alarmState struct {
	name, state, reason string
}

// readAlarms reads the environment's AlarmNames, metric and composite
// alarms alike, 100 names a call, every page.
func (r *run) readAlarms(ctx context.Context) ([]alarmState, error) {
	var out []alarmState
	names := r.env.AlarmNames
	for len(names) > 0 {
		n := min(len(names), maxAlarmNames)
		p := cloudwatch.NewDescribeAlarmsPaginator(r.aws.CloudWatch, &cloudwatch.DescribeAlarmsInput{
			AlarmNames: names[:n],
			AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describe alarms: %w", err)
			}
			for _, a := range page.MetricAlarms {
				out = append(out, alarmState{aws.ToString(a.AlarmName), string(a.StateValue), aws.ToString(a.StateReason)})
			}
			for _, a := range page.CompositeAlarms {
				out = append(out, alarmState{aws.ToString(a.AlarmName), string(a.StateValue), aws.ToString(a.StateReason)})
			}
		}
		names = names[n:]
	}
	return out, nil
}

// checkAlarms fails when an alarm of AlarmNames does not exist: a bake
// would otherwise watch nothing, and never roll back.
func (r *run) checkAlarms(ctx context.Context) error {
	if len(r.env.AlarmNames) == 0 {
		return nil
	}
	found, err := r.readAlarms(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, name := range r.env.AlarmNames {
		if !slices.ContainsFunc(found, func(a alarmState) bool { return a.name == name }) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return permanentError{fmt.Errorf("AlarmNames lists alarms CloudWatch does not have (metric or composite): %s", strings.Join(missing, ", "))}
	}
	return nil
}
