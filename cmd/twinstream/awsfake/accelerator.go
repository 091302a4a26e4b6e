package awsfake

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Accelerator fakes Global Accelerator's DescribeAccelerator,
// DescribeEndpointGroup and UpdateEndpointGroup (JSON 1.1). Like the real
// API it answers only requests signed for us-west-2.
type Accelerator struct {
	server
	// DeployPolls is how many DescribeAccelerator calls after an update
	// still see IN_PROGRESS before DEPLOYED (0: DEPLOYED at once).
	DeployPolls int

	accelerators map[string]*accelerator
	groups       map[string]*EndpointGroup
}

type accelerator struct {
	arn, name, dns string
	inProgress     int // DescribeAccelerator calls left with IN_PROGRESS
}

// EndpointGroup is one endpoint group's state.
type EndpointGroup struct {
	ARN            string
	AcceleratorARN string
	Region         string
	Dial           float32
	// Endpoints are the endpoints' ids (ALB ARNs) and health states
	// (HEALTHY, UNHEALTHY, INITIAL).
	Endpoints []Endpoint
}

// Endpoint is one endpoint of a group.
type Endpoint struct {
	ID, Health, Reason string
}

const gaType = "application/x-amz-json-1.1"

// NewAccelerator starts a Global Accelerator fake with no accelerator.
func NewAccelerator(t T) *Accelerator {
	t.Helper()
	ga := &Accelerator{accelerators: map[string]*accelerator{}, groups: map[string]*EndpointGroup{}}
	ga.start(t, ga.serve)
	return ga
}

// AddAccelerator adds an accelerator (status DEPLOYED).
func (ga *Accelerator) AddAccelerator(arn, name, dnsName string) {
	ga.mu.Lock()
	defer ga.mu.Unlock()
	ga.accelerators[arn] = &accelerator{arn: arn, name: name, dns: dnsName}
}

// PutGroup adds or replaces an endpoint group.
func (ga *Accelerator) PutGroup(g EndpointGroup) {
	ga.mu.Lock()
	defer ga.mu.Unlock()
	ga.groups[g.ARN] = &g
}

// Group returns a copy of an endpoint group's state.
func (ga *Accelerator) Group(arn string) (EndpointGroup, bool) {
	ga.mu.Lock()
	defer ga.mu.Unlock()
	g, ok := ga.groups[arn]
	if !ok {
		return EndpointGroup{}, false
	}
	c := *g
	c.Endpoints = append([]Endpoint(nil), g.Endpoints...)
	return c, true
}

// SetHealth sets the health of every endpoint of a group.
func (ga *Accelerator) SetHealth(arn, health string) {
	ga.mu.Lock()
	defer ga.mu.Unlock()
	for i := range ga.groups[arn].Endpoints {
		ga.groups[arn].Endpoints[i].Health = health
	}
}

func (ga *Accelerator) serve(w http.ResponseWriter, r *http.Request) {
	region := signedRegion(r)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "GlobalAccelerator_V20180706.")
	if e, ok := ga.record(region, op); ok {
		jsonError(w, gaType, e)
		return
	}
	if region != "us-west-2" {
		// The API has one endpoint, in us-west-2; a client signing for
		// another region would not reach it.
		jsonError(w, gaType, APIError{Status: 400, Code: "InvalidSignatureException", Message: "awsfake: Global Accelerator is in us-west-2, request signed for " + region})
		return
	}
	var in struct {
		AcceleratorArn        string
		EndpointGroupArn      string
		TrafficDialPercentage *float32
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		jsonError(w, gaType, APIError{Code: "InvalidArgumentException", Message: "awsfake: bad JSON: " + err.Error()})
		return
	}
	ga.mu.Lock()
	defer ga.mu.Unlock()
	switch op {
	case "DescribeAccelerator":
		a, ok := ga.accelerators[in.AcceleratorArn]
		if !ok {
			jsonError(w, gaType, APIError{Code: "AcceleratorNotFoundException", Message: "Accelerator not found"})
			return
		}
		status := "DEPLOYED"
		if a.inProgress > 0 {
			a.inProgress--
			status = "IN_PROGRESS"
		}
		writeJSON(w, gaType, 200, map[string]any{"Accelerator": map[string]any{
			"AcceleratorArn": a.arn, "Name": a.name, "DnsName": a.dns, "Enabled": true,
			"IpAddressType": "IPV4", "Status": status, "CreatedTime": 1767225600, "LastModifiedTime": 1767225600,
		}})
	case "DescribeEndpointGroup":
		g, ok := ga.groups[in.EndpointGroupArn]
		if !ok {
			jsonError(w, gaType, APIError{Code: "EndpointGroupNotFoundException", Message: "Endpoint group not found"})
			return
		}
		writeJSON(w, gaType, 200, map[string]any{"EndpointGroup": g.wire()})
	case "UpdateEndpointGroup":
		g, ok := ga.groups[in.EndpointGroupArn]
		if !ok {
			jsonError(w, gaType, APIError{Code: "EndpointGroupNotFoundException", Message: "Endpoint group not found"})
			return
		}
		if in.TrafficDialPercentage != nil {
			if d := *in.TrafficDialPercentage; d < 0 || d > 100 {
				jsonError(w, gaType, APIError{Code: "InvalidArgumentException", Message: "TrafficDialPercentage must be 0-100"})
				return
			}
			g.Dial = *in.TrafficDialPercentage
		}
		if a, ok := ga.accelerators[g.AcceleratorARN]; ok {
			a.inProgress = ga.DeployPolls
		}
		writeJSON(w, gaType, 200, map[string]any{"EndpointGroup": g.wire()})
	default:
		jsonError(w, gaType, APIError{Code: "UnknownOperationException", Message: "awsfake: Global Accelerator does not fake " + op})
	}
}

func (g *EndpointGroup) wire() map[string]any {
	var eps []map[string]any
	for _, e := range g.Endpoints {
		m := map[string]any{"EndpointId": e.ID, "HealthState": e.Health, "Weight": 128, "ClientIPPreservationEnabled": true}
		if e.Reason != "" {
			m["HealthReason"] = e.Reason
		}
		eps = append(eps, m)
	}
	return map[string]any{
		"EndpointGroupArn": g.ARN, "EndpointGroupRegion": g.Region, "TrafficDialPercentage": g.Dial,
		"EndpointDescriptions": eps, "HealthCheckPort": 443, "HealthCheckProtocol": "TCP",
		"HealthCheckIntervalSeconds": 30, "ThresholdCount": 3,
	}
}
