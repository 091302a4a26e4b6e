// Package stackstest checks synthesized stacks in tests, a team's or the
// library's own: golden templates that a new Go release or a handler change
// does not churn (Golden, Normalize), and cdk-nag's findings (Nag).
//
// A test binary synthesizes its app once (in TestMain), with the cdk-nag
// checks applied:
//
//	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: &dir})
//	d := stacks.NewDeployment(app, props)
//	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
//	app.Synth(nil)
//
// and its tests check each stack with these functions, which read that
// synthesis (none synthesizes again):
//
//	for _, s := range stacks {
//		tpl, err := stackstest.Template(s)
//		if err == nil {
//			err = stackstest.Golden(filepath.Join("testdata", *s.StackName()+".template.json"), tpl, *update)
//		}
//		if err != nil {
//			t.Error(err)
//		}
//		if err := stackstest.Nag(s); err != nil {
//			t.Error(err)
//		}
//	}
package stackstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// assetHash matches an asset hash (hex SHA-256). Asset hashes change with the
// Go version and every source change of a handler: a golden file pins the
// template's shape, not the binaries.
var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// Normalize returns a CloudFormation template (JSON) as a golden file holds
// it: indented, keys sorted, every asset hash replaced by "<asset-hash>", and
// CDK's version metadata (the CDKMetadata resource and its condition) and
// the construct paths and asset locations the CDK CLI adds to resources'
// metadata removed, so that the CLI's template and a test's synthesis of the
// same app normalize the same.
func Normalize(template []byte) ([]byte, error) {
	var tpl map[string]any
	if err := json.Unmarshal(template, &tpl); err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	if res, ok := tpl["Resources"].(map[string]any); ok {
		delete(res, "CDKMetadata")
		for _, r := range res {
			m, _ := r.(map[string]any)
			meta, _ := m["Metadata"].(map[string]any)
			for k := range meta {
				if strings.HasPrefix(k, "aws:cdk:") || strings.HasPrefix(k, "aws:asset:") {
					delete(meta, k)
				}
			}
			if meta != nil && len(meta) == 0 {
				delete(m, "Metadata")
			}
		}
	}
	if cond, ok := tpl["Conditions"].(map[string]any); ok {
		delete(cond, "CDKMetadataAvailable")
		if len(cond) == 0 {
			delete(tpl, "Conditions")
		}
	}
	out, err := json.MarshalIndent(tpl, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write template: %w", err)
	}
	out = assetHash.ReplaceAll(out, []byte("<asset-hash>"))
	return append(out, '\n'), nil
}

// Template returns a stack's template as its app's synthesis wrote it (call
// it after app.Synth).
func Template(stack awscdk.Stack) ([]byte, error) {
	asm := awscdk.Stage_Of(stack).Synth(nil)
	b, err := os.ReadFile(filepath.Join(*asm.Directory(), *stack.TemplateFile()))
	if err != nil {
		return nil, fmt.Errorf("template of stack %s: %w", *stack.StackName(), err)
	}
	return b, nil
}

// Golden compares template, normalized, with the golden file at path (for
// instance testdata/<stack name>.template.json), and says where they first
// differ. With update it writes the file instead, making its folder: a test
// binary passes its -update flag, so that after a change
// `go test -run Golden -update` rewrites the files and the diff is reviewed
// in version control.
func Golden(path string, template []byte, update bool) error {
	got, err := Normalize(template)
	if err != nil {
		return err
	}
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("golden template: %w (rerun the test with -update to write it)", err)
	}
	if d := Diff(got, want); d != "" {
		return fmt.Errorf("template differs from %s %s (review, then rerun the test with -update)", path, d)
	}
	return nil
}

// Diff says where two normalized templates first differ, with both lines;
// "" when they are equal.
func Diff(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	line := func(ls []string, i int) string {
		if i < len(ls) {
			return strings.TrimSpace(ls[i])
		}
		return "(end)"
	}
	i := 0
	for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
		i++
	}
	return fmt.Sprintf("at line %d: got %q, want %q (got %d lines, want %d)", i+1, line(gl, i), line(wl, i), len(gl), len(wl))
}

// Nag returns, one per line of its error, every cdk-nag AwsSolutions error
// and warning on stack that no suppression covers, and every suppression (on
// a resource or the stack) whose reason is under 20 characters: a
// suppression must say why the finding does not apply. It reads the
// synthesized cloud assembly, so the app must have had the checks as an
// aspect when it was synthesized (see the package doc); without them there
// is nothing to find.
func Nag(stack awscdk.Stack) error {
	var found []error
	msgs := awscdk.Stage_Of(stack).Synth(nil).GetStackArtifact(stack.ArtifactId()).Messages()
	for _, m := range *msgs {
		//lint:ignore SA1019 the stack artifact's Messages are of this type; aws-cdk-go ships no other
		level, path, data := strings.ToLower(string(m.Level)), *m.Id, m.Entry.Data
		msg, _ := data.(string)
		if (level == "error" || level == "warning") && strings.HasPrefix(msg, "AwsSolutions-") {
			found = append(found, fmt.Errorf("cdk-nag %s at %s: %s", level, path, strings.TrimSpace(msg)))
		}
	}
	slices.SortFunc(found, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })

	b, err := Template(stack)
	if err != nil {
		return err
	}
	var tpl struct {
		Metadata  map[string]any
		Resources map[string]struct{ Metadata map[string]any }
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		return fmt.Errorf("template of stack %s: %w", *stack.StackName(), err)
	}
	check := func(where string, meta map[string]any) {
		nag, _ := meta["cdk_nag"].(map[string]any)
		rules, _ := nag["rules_to_suppress"].([]any)
		for _, rule := range rules {
			m, _ := rule.(map[string]any)
			if reason, _ := m["reason"].(string); len(strings.TrimSpace(reason)) < 20 {
				found = append(found, fmt.Errorf("suppression of %v on %s: got reason %q, want one that explains (20 characters or more)", m["id"], where, reason))
			}
		}
	}
	check("stack "+*stack.StackName(), tpl.Metadata)
	for _, id := range slices.Sorted(maps.Keys(tpl.Resources)) {
		check(id, tpl.Resources[id].Metadata)
	}
	return errors.Join(found...)
}
