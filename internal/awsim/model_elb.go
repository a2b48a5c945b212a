package awsim

import "time"

// isoTime is a timestamp in the query protocol's ISO 8601 form.
type isoTime time.Time

func (t isoTime) MarshalText() ([]byte, error) {
	return []byte(time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

type lbState struct {
	Code string `xml:"Code"`
}

type availabilityZone struct {
	ZoneName string `xml:"ZoneName"`
	SubnetID string `xml:"SubnetId"`
}

type loadBalancer struct {
	LoadBalancerArn       string             `xml:"LoadBalancerArn"`
	LoadBalancerName      string             `xml:"LoadBalancerName"`
	DNSName               string             `xml:"DNSName"`
	CanonicalHostedZoneID string             `xml:"CanonicalHostedZoneId"`
	CreatedTime           isoTime            `xml:"CreatedTime"`
	Scheme                string             `xml:"Scheme"`
	VpcID                 string             `xml:"VpcId"`
	State                 lbState            `xml:"State"`
	Type                  string             `xml:"Type"`
	IPAddressType         string             `xml:"IpAddressType"`
	AvailabilityZones     []availabilityZone `xml:"AvailabilityZones>member"`
	SecurityGroups        []string           `xml:"SecurityGroups>member"`

	tags []elbTag
}

type matcher struct {
	HTTPCode string `xml:"HttpCode"`
}

type targetGroup struct {
	TargetGroupArn             string   `xml:"TargetGroupArn"`
	TargetGroupName            string   `xml:"TargetGroupName"`
	Protocol                   string   `xml:"Protocol"`
	Port                       int      `xml:"Port"`
	VpcID                      string   `xml:"VpcId"`
	TargetType                 string   `xml:"TargetType"`
	HealthCheckEnabled         bool     `xml:"HealthCheckEnabled"`
	HealthCheckProtocol        string   `xml:"HealthCheckProtocol"`
	HealthCheckPort            string   `xml:"HealthCheckPort"`
	HealthCheckPath            string   `xml:"HealthCheckPath"`
	HealthCheckIntervalSeconds int      `xml:"HealthCheckIntervalSeconds"`
	HealthCheckTimeoutSeconds  int      `xml:"HealthCheckTimeoutSeconds"`
	HealthyThresholdCount      int      `xml:"HealthyThresholdCount"`
	UnhealthyThresholdCount    int      `xml:"UnhealthyThresholdCount"`
	Matcher                    matcher  `xml:"Matcher"`
	LoadBalancerArns           []string `xml:"LoadBalancerArns>member"`
	IPAddressType              string   `xml:"IpAddressType"`

	tags    []elbTag
	targets map[string]*target
	// failing makes every target registered from now on fail its health
	// checks (SetTargetHealth).
	failing bool
	// attrs are the target group attributes, every key with its value.
	attrs map[string]string
}

type listener struct {
	ListenerArn     string `xml:"ListenerArn"`
	LoadBalancerArn string `xml:"LoadBalancerArn"`
	Port            int    `xml:"Port"`
	Protocol        string `xml:"Protocol"`
	DefaultActions  qlist  `xml:"DefaultActions"`

	tags []elbTag
}

type rule struct {
	RuleArn    string `xml:"RuleArn"`
	Priority   string `xml:"Priority"`
	Conditions qlist  `xml:"Conditions"`
	Actions    qlist  `xml:"Actions"`
	IsDefault  bool   `xml:"IsDefault"`

	listener *listener
	tags     []elbTag
}

type elbTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// target is one registered target of a target group.
type target struct {
	ID     string
	Port   int
	State  string // initial, healthy, unhealthy, draining, unavailable
	Reason string
	Desc   string
	// task is the ECS task behind the target, nil for RegisterTargets calls.
	task *task
	// failing says the target answers its health checks wrongly.
	failing bool
	// gen counts state changes; a scheduled transition made for an older
	// generation is stale and does nothing.
	gen int
}

type targetHealthDescription struct {
	Target struct {
		ID   string `xml:"Id"`
		Port int    `xml:"Port"`
	} `xml:"Target"`
	HealthCheckPort string `xml:"HealthCheckPort"`
	TargetHealth    struct {
		State       string `xml:"State"`
		Reason      string `xml:"Reason,omitempty"`
		Description string `xml:"Description,omitempty"`
	} `xml:"TargetHealth"`
}
