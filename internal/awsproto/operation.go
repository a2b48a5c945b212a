package awsproto

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Protocol is the wire protocol a request speaks.
type Protocol int

const (
	// ProtocolUnknown is a request none of the other protocols explain.
	ProtocolUnknown Protocol = iota
	// ProtocolJSON is awsJson1_0 or awsJson1_1: X-Amz-Target names the operation.
	ProtocolJSON
	// ProtocolQuery is the form-encoded query protocol with XML answers.
	ProtocolQuery
	// ProtocolCBOR is Smithy RPC v2 CBOR: the path names the operation.
	ProtocolCBOR
)

func (p Protocol) String() string {
	switch p {
	case ProtocolJSON:
		return "json"
	case ProtocolQuery:
		return "query"
	case ProtocolCBOR:
		return "cbor"
	}
	return "unknown"
}

// MaxBody is the largest request body Identify buffers (SQS allows 256 KiB
// messages; the query encoding of one can grow past that).
const MaxBody = 4 << 20

// Op names one API call.
type Op struct {
	Protocol Protocol
	// Target is the service part of X-Amz-Target ("AmazonEC2ContainerServiceV20141113"),
	// the service name of a CBOR path, or the Version of a query request.
	Target string
	// Name is the operation ("CreateTaskSet", "SetRulePriorities").
	Name string
}

type identified struct {
	op   Op
	form url.Values
	err  error
}

type identifiedKey struct{}

// Identified returns r carrying what Identify found, so later handlers of
// the same request do not read and parse the body again.
func Identified(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(identifiedKey{}).(identified); ok {
		return r
	}
	op, form, err := Identify(r)
	return r.WithContext(context.WithValue(r.Context(), identifiedKey{}, identified{op, form, err}))
}

// Identify names the operation r calls. It reads the body and puts it back, so
// the request can still be served or forwarded; form values of a query
// request are returned so callers need not parse the body twice.
func Identify(r *http.Request) (Op, url.Values, error) {
	if id, ok := r.Context().Value(identifiedKey{}).(identified); ok {
		return id.op, id.form, id.err
	}
	body, err := readBody(r)
	if err != nil {
		return Op{}, nil, err
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		svc, name, _ := strings.Cut(t, ".")
		return Op{Protocol: ProtocolJSON, Target: svc, Name: name}, nil, nil
	}
	if r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" {
		// /service/{ServiceName}/operation/{OperationName}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		op := Op{Protocol: ProtocolCBOR}
		if len(parts) >= 4 && parts[len(parts)-4] == "service" && parts[len(parts)-2] == "operation" {
			op.Target, op.Name = parts[len(parts)-3], parts[len(parts)-1]
		}
		return op, nil, nil
	}
	form := r.URL.Query()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		posted, err := url.ParseQuery(string(body))
		if err != nil {
			return Op{Protocol: ProtocolQuery}, nil, err
		}
		for k, v := range posted {
			form[k] = append(form[k], v...)
		}
	}
	if a := form.Get("Action"); a != "" {
		return Op{Protocol: ProtocolQuery, Target: form.Get("Version"), Name: a}, form, nil
	}
	return Op{}, form, nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, errBodyTooLarge
	}
	return body, nil
}
