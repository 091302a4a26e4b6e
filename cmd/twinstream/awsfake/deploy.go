package awsfake

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Deployment is a pipeline "deployed" into the fakes from synthesized
// templates (cdk.out or the repository's golden templates): its stacks in
// CloudFormation, the accelerator and endpoint groups in Global
// Accelerator, the health checks in Route 53, all with made-up physical ids.
type Deployment struct {
	Name string
	// Physical maps "<stack>/<logical id>" to the physical id given.
	Physical map[string]string
	// Regions are the regional stacks' regions, sorted.
	Regions []string
}

// DeployOptions say where the templates are and how physical ids are made.
type DeployOptions struct {
	// Name is the pipeline name: stacks <Name>-<region> and <Name>-global.
	Name string
	// Dir holds <stack>.template.json files.
	Dir string
	// GlobalRegion is where the global stack lives (us-west-2).
	GlobalRegion string
	// Physical, when set, names a resource's physical id ("" for the
	// default): a test points the stream, buckets and queues at stand-ins.
	Physical func(stack, region, logicalID, typ string) string
	// Skip names stacks not to deploy (a missing stack).
	Skip []string
}

type template struct {
	Resources map[string]struct {
		Type       string
		Properties json.RawMessage
	}
	Outputs map[string]struct {
		Value json.RawMessage
	}
}

// Deploy reads <Name>-global.template.json and every
// <Name>-<region>.template.json in Dir and puts them into the fakes (any of
// ga and r53 may be nil).
func Deploy(cf *CloudFormation, ga *Accelerator, r53 *Route53, o DeployOptions) (*Deployment, error) {
	files, err := filepath.Glob(filepath.Join(o.Dir, o.Name+"-*.template.json"))
	if err != nil {
		return nil, err
	}
	d := &Deployment{Name: o.Name, Physical: map[string]string{}}
	sort.Strings(files)
	for _, f := range files {
		stack := strings.TrimSuffix(filepath.Base(f), ".template.json")
		region := strings.TrimPrefix(stack, o.Name+"-")
		if region == "global" {
			region = o.GlobalRegion
		} else {
			d.Regions = append(d.Regions, region)
		}
		if contains(o.Skip, stack) {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var t template
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		s := Stack{Name: stack, Template: string(body), Outputs: map[string]string{},
			Tags: map[string]string{"project": "twinstream", "pipeline": o.Name}}
		logical := make([]string, 0, len(t.Resources))
		for id := range t.Resources {
			logical = append(logical, id)
		}
		sort.Strings(logical)
		accelerator := ""
		for _, id := range logical {
			r := t.Resources[id]
			phys := ""
			if o.Physical != nil {
				phys = o.Physical(stack, region, id, r.Type)
			}
			if phys == "" {
				phys = defaultPhysical(stack, region, id, r.Type)
			}
			d.Physical[stack+"/"+id] = phys
			s.Resources = append(s.Resources, Resource{LogicalID: id, PhysicalID: phys, Type: r.Type})
			if r.Type == "AWS::GlobalAccelerator::Accelerator" {
				accelerator = phys
			}
		}
		for _, id := range logical {
			r := t.Resources[id]
			phys := d.Physical[stack+"/"+id]
			switch r.Type {
			case "AWS::GlobalAccelerator::Accelerator":
				if ga != nil {
					ga.AddAccelerator(phys, o.Name, "a0123456789abcdef.awsglobalaccelerator.com")
				}
			case "AWS::GlobalAccelerator::EndpointGroup":
				var p struct {
					EndpointGroupRegion   string
					TrafficDialPercentage *float32
				}
				if err := json.Unmarshal(r.Properties, &p); err != nil {
					return nil, fmt.Errorf("%s %s: %w", stack, id, err)
				}
				dial := float32(100)
				if p.TrafficDialPercentage != nil {
					dial = *p.TrafficDialPercentage
				}
				if ga != nil {
					ga.PutGroup(EndpointGroup{ARN: phys, AcceleratorARN: accelerator, Region: p.EndpointGroupRegion, Dial: dial,
						Endpoints: []Endpoint{{ID: fmt.Sprintf("arn:aws:elasticloadbalancing:%s:123456789012:loadbalancer/app/%s/0123456789abcdef", p.EndpointGroupRegion, o.Name), Health: "HEALTHY"}}})
				}
			case "AWS::Route53::HealthCheck":
				var p struct {
					HealthCheckConfig struct {
						Type, ResourcePath       string
						Port                     int32
						RequestInterval          int32
						FailureThreshold         int32
						EnableSNI                bool
						FullyQualifiedDomainName json.RawMessage
					}
				}
				if err := json.Unmarshal(r.Properties, &p); err != nil {
					return nil, fmt.Errorf("%s %s: %w", stack, id, err)
				}
				c := p.HealthCheckConfig
				var fqdn string
				if json.Unmarshal(c.FullyQualifiedDomainName, &fqdn) != nil {
					fqdn = "alb-" + strings.ToLower(id) + ".elb.amazonaws.com"
				}
				if r53 != nil {
					r53.Put(HealthCheck{ID: phys, Type: c.Type, FQDN: fqdn, Port: c.Port, ResourcePath: c.ResourcePath,
						RequestInterval: c.RequestInterval, FailureThreshold: c.FailureThreshold, EnableSNI: c.EnableSNI, Healthy: true})
				}
			}
		}
		for k, out := range t.Outputs {
			var v string
			if json.Unmarshal(out.Value, &v) != nil {
				v = "resolved-" + k // an intrinsic function: some value
			}
			s.Outputs[k] = v
		}
		cf.Put(region, s)
	}
	return d, nil
}

// defaultPhysical makes up a physical id shaped like the real one.
func defaultPhysical(stack, region, logicalID, typ string) string {
	h := sha256.Sum256([]byte(stack + "/" + logicalID))
	suffix := fmt.Sprintf("%X", h[:6])
	switch typ {
	case "AWS::GlobalAccelerator::Accelerator":
		return fmt.Sprintf("arn:aws:globalaccelerator::123456789012:accelerator/%x", h[:16])
	case "AWS::GlobalAccelerator::EndpointGroup":
		return fmt.Sprintf("arn:aws:globalaccelerator::123456789012:accelerator/0000/listener/1111/endpoint-group/%x", h[:6])
	case "AWS::Route53::HealthCheck":
		return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	case "AWS::S3::Bucket":
		return strings.ToLower(stack + "-" + logicalID[:min(len(logicalID), 20)] + "-" + suffix)
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/123456789012/%s-%s-%s", region, stack, logicalID, suffix)
	}
	return stack + "-" + logicalID + "-" + suffix
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
