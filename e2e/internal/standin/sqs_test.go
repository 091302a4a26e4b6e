package standin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/twinstream/twinstream/e2e/internal/standin"
)

// TestSQSSendReceiveDelete checks the calls an S3-notification queue sees
// with the SDK's JSON protocol: send, receive, delete, and that a deleted
// message is gone while an undeleted one comes back after its visibility
// timeout.
func TestSQSSendReceiveDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	q := standin.StartSQS(t)
	url, err := q.CreateQueue(ctx, "spill-events")
	if err != nil {
		t.Fatal(err)
	}
	if want := q.Endpoint() + "/"; !strings.HasPrefix(url, want) {
		t.Errorf("queue URL: got %s, want prefix %s", url, want)
	}
	c := q.Client()
	for i := range 3 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprintf("m%d", i))}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}

	got := map[string]string{} // body -> receipt handle
	for len(got) < 3 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     1,
			VisibilityTimeout:   1,
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.Body)] = aws.ToString(m.ReceiptHandle)
		}
	}
	for i := range 3 {
		if _, ok := got[fmt.Sprintf("m%d", i)]; !ok {
			t.Errorf("message m%d not received", i)
		}
	}
	// Delete m0 and m1; m2 must come back once its visibility timeout ends.
	for _, body := range []string{"m0", "m1"} {
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(got[body])}); err != nil {
			t.Fatalf("DeleteMessage %s: %v", body, err)
		}
	}
	var back []string
	for len(back) == 0 {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(url),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     1,
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		for _, m := range out.Messages {
			back = append(back, aws.ToString(m.Body))
		}
	}
	if len(back) != 1 || back[0] != "m2" {
		t.Errorf("messages after deleting m0, m1: got %v, want [m2]", back)
	}

	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	if want := "arn:aws:sqs:" + q.Region() + ":"; !strings.HasPrefix(attrs.Attributes["QueueArn"], want) {
		t.Errorf("QueueArn: got %q, want prefix %q", attrs.Attributes["QueueArn"], want)
	}
}
