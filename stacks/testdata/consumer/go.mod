// A team's module that uses the library, for TestGoCodeInConsumerModule,
// which copies it, points the replace below at the repository it runs in and
// runs `go mod tidy` before synthesizing from it.
module example.com/consumer

go 1.24

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/twinstream/twinstream v0.0.0
)

replace github.com/twinstream/twinstream => ../../..

// The team's handler runs another aws-lambda-go than the library pins: the
// library's handlers must keep the library's.
replace github.com/aws/aws-lambda-go => github.com/aws/aws-lambda-go v1.55.0
