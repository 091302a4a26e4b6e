package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/twinstream/twinstream/client"
)

// ingest stands in for the pipeline: it stores the first request's records
// but the third, answering 503 as ingest does when Kinesis and the spill
// bucket fail, then 202.
func ingest() *httptest.Server {
	calls := 0
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Records []struct{ ID string } `json:"records"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		calls++
		w.Header().Set("Content-Type", "application/json")
		if calls == 1 && len(req.Records) == 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "not stored",
				"stored": []string{req.Records[0].ID, req.Records[1].ID}, "failed": []int{2}, "failedIds": []string{req.Records[2].ID}})
			return
		}
		fmt.Printf("request %d: %d records\n", calls, len(req.Records))
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"accepted": len(req.Records), "spilled": 0})
	}))
}

func Example() {
	srv := ingest()
	defer srv.Close()

	c, err := client.New(client.Config{
		// The global stack's ProducerUrl, then its FailoverUrl.
		Endpoints: []string{srv.URL + "/v1/records", "https://failover.ingest.example.com/v1/records"},
		APIKey:    "ts-team-a-key",
		Hooks: client.Hooks{
			Retry: func(e client.RetryEvent) { fmt.Printf("retry: %d records after %d\n", e.Records, e.Status) },
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	recs := []client.Record{
		{Data: json.RawMessage(`{"order":1}`)},
		{Data: json.RawMessage(`{"order":2}`)},
		{ID: "order-3", Data: json.RawMessage(`{"order":3}`)},
	}
	res, err := c.Send(context.Background(), recs)
	var rej *client.RejectError
	switch {
	case errors.As(err, &rej):
		fmt.Println("fix these records:", rej.Records)
	case err != nil:
		fmt.Println("not acknowledged, send again with the same ids:", res.Unacked, err)
	}
	fmt.Printf("acknowledged %d of %d; the last as %s\n", res.Acked, len(recs), res.IDs[2])
	fmt.Println("ids assigned:", len(recs[0].ID), "characters")
	// Output:
	// retry: 1 records after 503
	// request 2: 1 records
	// acknowledged 3 of 3; the last as order-3
	// ids assigned: 26 characters
}

// Buffered use: Add from any goroutine, Close at the end.
func ExampleClient_Add() {
	srv := ingest()
	defer srv.Close()

	var acked int
	c, err := client.New(client.Config{
		Endpoints: []string{srv.URL},
		APIKey:    "ts-team-a-key",
		Hooks: client.Hooks{Batch: func(e client.BatchEvent) {
			acked += e.Result.Acked // one batch here; use a mutex with several
			if e.Err != nil {
				fmt.Println("not acknowledged:", e.Result.Unacked, e.Err)
			}
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.Add(ctx, client.Record{Data: json.RawMessage(fmt.Sprint(i))}); err != nil {
			fmt.Println(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("acknowledged", acked)
	// Output:
	// request 1: 5 records
	// acknowledged 5
}
