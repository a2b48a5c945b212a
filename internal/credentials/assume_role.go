package credentials

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AssumeRoleAPI is what the AssumeRole provider calls of STS.
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ AssumeRoleAPI = (*sts.Client)(nil)

// DefaultRoleARNTemplate is the role assumed in each account by default.
const DefaultRoleARNTemplate = "arn:aws:iam::{{.Account}}:role/ecs-deploy"

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// RoleARN renders a role ARN template for an account; the template sees
// {{.Account}}.
func RoleARN(tmpl, account string) (string, error) {
	if !accountID.MatchString(account) {
		return "", fmt.Errorf("role ARN: %q is not a 12-digit account ID", account)
	}
	t, err := template.New("role").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("role ARN template %q: %w", tmpl, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Account string }{account}); err != nil {
		return "", fmt.Errorf("role ARN template %q: %w", tmpl, err)
	}
	arn := b.String()
	if !regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+`).MatchString(arn) {
		return "", fmt.Errorf("role ARN template %q gives %q for account %s, not a role ARN", tmpl, arn, account)
	}
	return arn, nil
}

// AssumeRoleProvider returns credentials for roleARN from STS, cached
// until window before they expire.
func AssumeRoleProvider(api AssumeRoleAPI, roleARN, sessionName string, duration, window time.Duration) aws.CredentialsProvider {
	p := stscreds.NewAssumeRoleProvider(api, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = sessionName
		if duration > 0 {
			o.Duration = duration
		}
	})
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = window })
}
