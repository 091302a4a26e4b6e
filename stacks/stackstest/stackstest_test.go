package stackstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

func TestNormalize(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	in := `{"Resources":{"CDKMetadata":{"Type":"AWS::CDK::Metadata"},
	  "Fn":{"Type":"AWS::Lambda::Function","Metadata":{"aws:cdk:path":"s/Fn","aws:asset:path":"asset.` + hash + `"},
	    "Properties":{"Code":{"S3Key":"` + hash + `.zip"}}},
	  "Bucket":{"Type":"AWS::S3::Bucket","Metadata":{"cdk_nag":{"rules_to_suppress":[]}}}},
	 "Conditions":{"CDKMetadataAvailable":{}}}`
	want := `{
  "Resources": {
    "Bucket": {
      "Metadata": {
        "cdk_nag": {
          "rules_to_suppress": []
        }
      },
      "Type": "AWS::S3::Bucket"
    },
    "Fn": {
      "Properties": {
        "Code": {
          "S3Key": "<asset-hash>.zip"
        }
      },
      "Type": "AWS::Lambda::Function"
    }
  }
}
`
	got, err := Normalize([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := Normalize([]byte("{")); err == nil {
		t.Error("got no error for a truncated template, want one")
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "s.template.json")
	tpl := []byte(`{"Resources":{"A":{"Type":"AWS::SNS::Topic"}}}`)
	if err := Golden(path, tpl, false); err == nil || !strings.Contains(err.Error(), "rerun the test with -update") {
		t.Errorf("no golden file: got %v, want an error saying to rerun with -update", err)
	}
	if err := Golden(path, tpl, true); err != nil {
		t.Fatal(err)
	}
	if err := Golden(path, tpl, false); err != nil {
		t.Errorf("same template: got %v, want nil", err)
	}
	changed := []byte(`{"Resources":{"A":{"Type":"AWS::SQS::Queue"}}}`)
	want := `at line 4: got "\"Type\": \"AWS::SQS::Queue\"", want "\"Type\": \"AWS::SNS::Topic\""`
	if err := Golden(path, changed, false); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("changed template: got %v, want an error containing %s", err, want)
	}
}

// TestNag synthesizes an app with cdk-nag's checks: a bare bucket has
// findings, a bucket whose findings are suppressed with reasons has none,
// and a suppression without a real reason is one.
func TestNag(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	env := &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("eu-west-1")}}
	bare := awscdk.NewStack(app, jsii.String("Bare"), env)
	awss3.NewBucket(bare, jsii.String("Bucket"), nil)
	suppressed := awscdk.NewStack(app, jsii.String("Suppressed"), env)
	awss3.NewBucket(suppressed, jsii.String("Bucket"), nil)
	cdknag.NagSuppressions_AddStackSuppressions(suppressed, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-S1"), Reason: jsii.String("this test bucket keeps no access logs")},
		{Id: jsii.String("AwsSolutions-S10"), Reason: jsii.String("this test bucket is never read")},
	}, nil)
	short := awscdk.NewStack(app, jsii.String("Short"), env)
	b := awss3.NewBucket(short, jsii.String("Bucket"), &awss3.BucketProps{EnforceSSL: jsii.Bool(true)})
	cdknag.NagSuppressions_AddResourceSuppressions(b, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-S1"), Reason: jsii.String("not needed")},
	}, nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)

	tests := []struct {
		stack awscdk.Stack
		want  []string
	}{
		{bare, []string{"cdk-nag error at /Bare/Bucket/Resource: AwsSolutions-S1:", "cdk-nag error at /Bare/Bucket/Resource: AwsSolutions-S10:"}},
		{suppressed, nil},
		{short, []string{`suppression of AwsSolutions-S1 on Bucket83908E77: got reason "not needed"`}},
	}
	for _, tt := range tests {
		t.Run(*tt.stack.StackName(), func(t *testing.T) {
			err := Nag(tt.stack)
			if tt.want == nil {
				if err != nil {
					t.Errorf("got %v, want no finding", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no finding, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d findings, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got\n%v\nwant a finding containing %q", err, w)
				}
			}
		})
	}

	tpl, err := Template(bare)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tpl), `"AWS::S3::Bucket"`) {
		t.Errorf("template of Bare: got %s, want its bucket", tpl)
	}
}
