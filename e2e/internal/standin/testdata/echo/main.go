// Command echo is a test-only Lambda for package standin's RIE tests: it
// returns its event unchanged, fails when the event is {"fail": "<message>"},
// sleeps (ignoring its deadline) when it is {"sleep": "<duration>"}, and answers {"env": "NAME"} with
// that variable's value, and {"instance": true} with an id drawn when the
// process started (a new one after a cold start).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type control struct {
	Fail     string `json:"fail"`
	Sleep    string `json:"sleep"`
	Env      string `json:"env"`
	Instance bool   `json:"instance"`
}

// instance tells execution environments apart.
var instance = strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid())

func handle(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	var c control
	if json.Unmarshal(event, &c) == nil {
		switch {
		case c.Fail != "":
			return nil, errors.New(c.Fail)
		case c.Sleep != "":
			d, err := time.ParseDuration(c.Sleep)
			if err != nil {
				return nil, err
			}
			time.Sleep(d) // a stuck handler: ignores its deadline
		case c.Instance:
			return json.Marshal(map[string]string{"instance": instance})
		case c.Env != "":
			return json.Marshal(map[string]string{c.Env: os.Getenv(c.Env)})
		}
	}
	return event, nil
}

func main() {
	lambda.Start(handle)
}
