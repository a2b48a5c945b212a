package awsim

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"ecs-deploy/internal/awsproto"
)

const (
	stsVersion = "2011-06-15"
	stsXMLNS   = "https://sts.amazonaws.com/doc/2011-06-15/"
)

type callerIdentityResult struct {
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
	Arn     string `xml:"Arn"`
}

type stsCredentials struct {
	AccessKeyID     string    `xml:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken"`
	Expiration      time.Time `xml:"Expiration"`
}

type assumeRoleResult struct {
	Credentials     stsCredentials `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
}

var (
	roleArnPattern     = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// serveSTS answers GetCallerIdentity and AssumeRole for the principal who
// signed the request.
func (s *Server) serveSTS(w http.ResponseWriter, op string, form url.Values, who principal) {
	in, err := parseQuery(form)
	var out any
	if err == nil {
		switch op {
		case "GetCallerIdentity":
			out = callerIdentityResult{UserID: who.userID, Account: who.account, Arn: who.arn}
		case "AssumeRole":
			out, err = s.assumeRole(in, who)
		default:
			err = awsproto.Errorf("InvalidAction", "The action %s is not valid for this web service.", op)
		}
	}
	var buf bytes.Buffer
	if err == nil {
		err = writeQueryResult(&buf, op, stsXMLNS, out)
	}
	if err != nil {
		awsproto.WriteError(w, awsproto.ProtocolQuery, stsXMLNS, awsproto.AsError(err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", awsproto.RequestID())
	_, _ = w.Write(buf.Bytes())
}

// assumeRole gives temporary credentials of a role: requests signed with
// them are the role's account's. A role of an account the emulated cloud
// does not have cannot be assumed.
func (s *Server) assumeRole(in qmap, who principal) (any, error) {
	if err := in.required("RoleArn", "RoleSessionName"); err != nil {
		return nil, err
	}
	roleArn, session := in.str("RoleArn"), in.str("RoleSessionName")
	m := roleArnPattern.FindStringSubmatch(roleArn)
	if m == nil {
		return nil, validationErr("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must satisfy the ARN format of an IAM role", roleArn)
	}
	if !sessionNamePattern.MatchString(session) {
		return nil, validationErr("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	duration := 3600
	if v := in.str("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, validationErr("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", v)
		}
		duration = n
	}
	account, role := m[1], m[2]
	if !s.cloud.knows(account) {
		return nil, awsproto.Errorf("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", who.arn, roleArn)
	}
	roleID := "AROA" + strings.ToUpper(s.newID(17))
	key := "ASIA" + strings.ToUpper(s.newID(16))
	expires := s.clock.Now().Add(time.Duration(duration) * time.Second).UTC().Truncate(time.Second)
	var out assumeRoleResult
	out.Credentials = stsCredentials{AccessKeyID: key, SecretAccessKey: s.newID(40), SessionToken: "FwoG" + s.newID(64), Expiration: expires}
	out.AssumedRoleUser.AssumedRoleID = roleID + ":" + session
	out.AssumedRoleUser.Arn = "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session
	s.cloud.addKey(key, principal{account: account, arn: out.AssumedRoleUser.Arn, userID: out.AssumedRoleUser.AssumedRoleID, expires: expires})
	return out, nil
}
