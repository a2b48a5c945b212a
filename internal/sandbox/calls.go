package sandbox

import (
	"net/http"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// iamPrefixes maps what names a service in a request (the X-Amz-Target
// prefix, the CBOR path's service, or the query protocol's Version) to its
// IAM action prefix.
var iamPrefixes = map[string]string{
	"AmazonSQS": "sqs", "2012-11-05": "sqs",
	"AmazonSimpleNotificationService": "sns", "2010-03-31": "sns",
	"DynamoDB_20120810":                  "dynamodb",
	"AmazonEC2ContainerServiceV20141113": "ecs",
	"2015-12-01":                         "elasticloadbalancing",
	"GraniteServiceVersion20100801":      "cloudwatch", "2010-08-01": "cloudwatch",
	"AWSSecurityTokenServiceV20110615": "sts", "2011-06-15": "sts",
}

// recordCalls tells fn of each call h receives; with fn nil it is h.
func recordCalls(h http.Handler, fn func(Call)) http.Handler {
	if fn == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/_awsim/") {
			r = awsproto.Identified(r)
			if op, _, err := awsproto.Identify(r); err == nil && op.Name != "" {
				prefix, ok := iamPrefixes[op.Target]
				if !ok {
					prefix = strings.ToLower(op.Target)
				}
				fn(Call{AccessKey: accessKey(r.Header.Get("Authorization")), Action: prefix + ":" + op.Name})
			}
		}
		h.ServeHTTP(w, r)
	})
}

// accessKey reads the access key ID from a SigV4 Authorization header.
func accessKey(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(cred, "/")
	return key
}
