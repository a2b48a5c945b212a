package awsim

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ecsRequestLimits are rules of the ECS API reference that a request breaks
// whatever the state: list sizes, lengths and allowed values that the SDK
// does not check before sending. serveECS applies them before the handler,
// as ECS refuses such a request before looking anything up. They were found
// by auditing the calls the project makes (docs/aws-calls.md).
var ecsRequestLimits = map[string]func(body []byte) error{
	"RegisterTaskDefinition": checkRegisterTaskDefinitionLimits,
	"CreateTaskSet":          checkCreateLimits,
	"CreateService":          checkCreateLimits,
	"UpdateService":          checkCreateLimits,
	"CreateCluster":          checkCreateLimits,
	"TagResource":            checkCreateLimits,
}

// maxTaskDefinitionBytes is the largest task definition ECS registers.
const maxTaskDefinitionBytes = 65536

func checkRegisterTaskDefinitionLimits(body []byte) error {
	if len(body) > maxTaskDefinitionBytes {
		return clientErr("Actual length: '%d'. Max allowed length is '%d' bytes.", len(body), maxTaskDefinitionBytes)
	}
	return checkCreateLimits(body)
}

// limitedRequest holds the members checkCreateLimits reads; any of them
// may be absent.
type limitedRequest struct {
	Tags                 []ecsTag `json:"tags"`
	ClientToken          *string  `json:"clientToken"`
	NetworkConfiguration *struct {
		AwsvpcConfiguration *struct {
			Subnets        []string `json:"subnets"`
			SecurityGroups []string `json:"securityGroups"`
			AssignPublicIP string   `json:"assignPublicIp"`
		} `json:"awsvpcConfiguration"`
	} `json:"networkConfiguration"`
}

// checkCreateLimits checks the tags, client token and awsvpc network
// configuration a request carries.
func checkCreateLimits(body []byte) error {
	var in limitedRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil // the handler answers malformed input
	}
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	if t := in.ClientToken; t != nil && !validClientToken(*t) {
		return invalidParam("clientToken %q is invalid: up to 36 ASCII characters in the range of 33-126 (inclusive) are allowed.", *t)
	}
	if nc := in.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		return checkAwsvpc(nc.AwsvpcConfiguration.Subnets, nc.AwsvpcConfiguration.SecurityGroups, nc.AwsvpcConfiguration.AssignPublicIP)
	}
	return nil
}

const (
	maxTags            = 50
	maxTagKeyRunes     = 128
	maxTagValueRunes   = 256
	maxSubnets         = 16
	maxSecurityGroups  = 5
	maxClientTokenSize = 36
)

// tagChars are the characters ECS allows in tag keys and values.
var tagChars = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

func checkTags(tags []ecsTag) error {
	if len(tags) > maxTags {
		return invalidParam("The request has %d tags; a resource can have at most %d.", len(tags), maxTags)
	}
	for _, t := range tags {
		switch {
		case t.Key == "":
			return invalidParam("Tag keys must not be empty.")
		case utf8.RuneCountInString(t.Key) > maxTagKeyRunes:
			return invalidParam("Tag key %q is longer than %d characters.", t.Key, maxTagKeyRunes)
		case utf8.RuneCountInString(t.Value) > maxTagValueRunes:
			return invalidParam("The value of tag %q is longer than %d characters.", t.Key, maxTagValueRunes)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return invalidParam("Tag key must not start with aws:")
		case !tagChars.MatchString(t.Key) || !tagChars.MatchString(t.Value):
			return invalidParam("Tag %q: keys and values may contain only letters, numbers, spaces and + - = . _ : / @.", t.Key)
		}
	}
	return nil
}

func validClientToken(t string) bool {
	if len(t) > maxClientTokenSize {
		return false
	}
	for i := range len(t) {
		if t[i] < 33 || t[i] > 126 {
			return false
		}
	}
	return true
}

func checkAwsvpc(subnets, securityGroups []string, assignPublicIP string) error {
	switch {
	case len(subnets) == 0:
		return invalidParam("subnets can not be empty.")
	case len(subnets) > maxSubnets:
		return invalidParam("%d subnets were given; at most %d can be specified per awsvpcConfiguration.", len(subnets), maxSubnets)
	case len(securityGroups) > maxSecurityGroups:
		return invalidParam("%d security groups were given; at most %d can be specified per awsvpcConfiguration.", len(securityGroups), maxSecurityGroups)
	}
	switch assignPublicIP {
	case "", "ENABLED", "DISABLED":
		return nil
	}
	return invalidParam("assignPublicIp %q is not ENABLED or DISABLED.", assignPublicIP)
}

// withRequestLimits returns h preceded by the request limits of op, if
// it has any.
func withRequestLimits(op string, h apiHandler) apiHandler {
	check, ok := ecsRequestLimits[op]
	if !ok {
		return h
	}
	return func(s *Server, body []byte) (any, error) {
		if err := check(body); err != nil {
			return nil, err
		}
		return h(s, body)
	}
}
