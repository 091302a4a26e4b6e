// Command assets makes, as a team's CDK app does, the Lambda code of each Go
// main package on the command line with stacks.GoCode, which builds it (or
// panics, stopping with the go command's message), and prints
// "<package> <asset hash>" a line.
package main

import (
	"fmt"
	"os"

	"github.com/aws/jsii-runtime-go"

	"github.com/twinstream/twinstream/stacks"
)

func main() {
	defer jsii.Close()
	for _, pkg := range os.Args[1:] {
		stacks.GoCode(pkg)
		hash, err := stacks.SourceHash(pkg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(pkg, hash)
	}
}
