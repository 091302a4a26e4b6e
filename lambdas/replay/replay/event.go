package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Event is what one SQS message from the spill bucket's notifications says.
type Event struct {
	// Test is true for the s3:TestEvent S3 sends when notifications are set up.
	Test bool
	// Objects are the objects the notification names, keys decoded.
	Objects []Object
}

// Object is one object named by an S3 event notification.
type Object struct {
	EventName string // e.g. "ObjectCreated:Put"
	Bucket    string
	Key       string // decoded: "a b" where the notification says "a+b"
	Size      int64
	// Time is the event's time (when S3 took the object); zero when the
	// notification has none that parses.
	Time time.Time
}

// s3Event holds the fields of an S3 event notification (and of the test
// event) that replay reads; aws-lambda-go's types stay out of this package.
type s3Event struct {
	Event   string `json:"Event"`
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		EventTime   string `json:"eventTime"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// ParseEvent reads an SQS message body holding an S3 event notification. It
// fails on anything else, so such a message is kept (retried, then in the
// DLQ) rather than silently dropped.
func ParseEvent(body []byte) (Event, error) {
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, fmt.Errorf("parse s3 event: %w", err)
	}
	if len(ev.Records) == 0 {
		if ev.Event == "s3:TestEvent" {
			return Event{Test: true}, nil
		}
		return Event{}, errors.New("parse s3 event: no Records")
	}
	out := Event{Objects: make([]Object, 0, len(ev.Records))}
	for i, rec := range ev.Records {
		if rec.EventSource != "aws:s3" {
			return Event{}, fmt.Errorf("parse s3 event: record %d: eventSource %q, want aws:s3", i, rec.EventSource)
		}
		if rec.EventName == "" || rec.S3.Bucket.Name == "" || rec.S3.Object.Key == "" {
			return Event{}, fmt.Errorf("parse s3 event: record %d: eventName, bucket name and object key are required", i)
		}
		// Keys arrive form-encoded: '+' is a space, other bytes %XX.
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return Event{}, fmt.Errorf("parse s3 event: record %d: object key %q: %w", i, rec.S3.Object.Key, err)
		}
		// Only the age metric reads the time: a notification without one
		// still names an object to replay.
		at, _ := time.Parse(time.RFC3339Nano, rec.EventTime)
		out.Objects = append(out.Objects, Object{
			EventName: rec.EventName,
			Bucket:    rec.S3.Bucket.Name,
			Key:       key,
			Size:      rec.S3.Object.Size,
			Time:      at,
		})
	}
	return out, nil
}

// Gone reports whether an S3 error says the object does not exist (it was
// replayed and deleted before). A missing bucket is not "gone": that is a
// configuration error and must not count as success. S3 answers 403 instead
// of 404 for a missing key when the caller lacks s3:ListBucket, so the
// function's role needs it.
func Gone(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}
