package awsproto

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go/encoding/cbor"
)

var errBodyTooLarge = fmt.Errorf("request body larger than %d bytes", MaxBody)

// Error is an AWS API error: the code the SDKs match their typed errors on,
// a message, and the HTTP status that carries it.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds a client error (HTTP 400) with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// AsError turns any error into an *Error, keeping one found in its chain and
// calling anything else an internal failure.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: "InternalFailure", Message: err.Error(), Status: http.StatusInternalServerError}
}

// RequestID returns a new random request id.
func RequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WriteError answers with e in the shape clients of protocol p parse. A query
// error names xmlns as its namespace. A JSON error keeps a Content-Type the
// caller set (a JSON 1.0 service's); without one it is JSON 1.1.
func WriteError(w http.ResponseWriter, p Protocol, xmlns string, e *Error) {
	id := RequestID()
	w.Header().Set("X-Amzn-RequestId", id)
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	switch p {
	case ProtocolQuery:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		kind := "Sender"
		if status >= 500 {
			kind = "Receiver"
		}
		_ = xml.NewEncoder(w).Encode(queryError{
			Xmlns:     xmlns,
			Error:     queryErrorBody{Type: kind, Code: e.Code, Message: e.Message},
			RequestID: id,
		})
	case ProtocolCBOR:
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.WriteHeader(status)
		_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(e.Code), "message": cbor.String(e.Message)}))
	default:
		w.Header().Set("X-Amzn-ErrorType", e.Code)
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
	}
}

type queryError struct {
	XMLName   xml.Name       `xml:"ErrorResponse"`
	Xmlns     string         `xml:"xmlns,attr,omitempty"`
	Error     queryErrorBody `xml:"Error"`
	RequestID string         `xml:"RequestId"`
}

type queryErrorBody struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}
