// Module client is the producer client for twinstream's ingest API
// (POST /v1/records): batching within the API's limits, ids assigned on the
// client, retries and endpoint failover. It is a module of its own, standard
// library only, so that a producer importing it pulls neither the CDK nor
// the AWS SDK into its module graph.
module github.com/twinstream/twinstream/client

go 1.22.0
