// Command echo is a test-only Lambda for package standin's RIE tests: it
// returns its event unchanged, fails when the event is {"fail": "<message>"},
// sleeps (ignoring its deadline) when it is {"sleep": "<duration>"}, and answers {"env": "NAME"} with
// that variable's value.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type control struct {
	Fail  string `json:"fail"`
	Sleep string `json:"sleep"`
	Env   string `json:"env"`
}

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
		case c.Env != "":
			return json.Marshal(map[string]string{c.Env: os.Getenv(c.Env)})
		}
	}
	return event, nil
}

func main() {
	lambda.Start(handle)
}
