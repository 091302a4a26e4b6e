// Command handler is the team's own Lambda handler: it builds in the team's
// module, with the team's dependencies.
package main

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, words []string) (string, error) {
		return strings.Join(words, " "), nil
	})
}
