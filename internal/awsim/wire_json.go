package awsim

import (
	"encoding/json"
	"strconv"
	"time"
)

// epoch is a timestamp in the JSON protocols' form: seconds since the Unix
// epoch as a number.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', 3, 64), nil
}

func (e *epoch) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*e = epoch(time.UnixMilli(int64(f * 1000)))
	return nil
}

// epochPtr returns nil for the zero time, so the field is left out.
func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// ecsTag is a resource tag in ECS's lower-case form.
type ecsTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type ecsFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}
