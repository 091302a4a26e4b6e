package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Route53 fakes GetHealthCheck, GetHealthCheckStatus and UpdateHealthCheck
// (REST-XML). Each health check stands for a region's ALB: its checkers
// report success when the check's ResourcePath is the path the region
// answers 200 on (HealthyPath, /health/deep) and the region is healthy;
// any other path gets the 404 the health function answers for it.
type Route53 struct {
	server
	checks map[string]*HealthCheck
}

// HealthCheck is one health check's state.
type HealthCheck struct {
	ID               string
	Type             string // HTTPS
	FQDN             string
	Port             int32
	ResourcePath     string
	RequestInterval  int32
	FailureThreshold int32
	EnableSNI        bool
	Inverted         bool
	Disabled         bool
	Version          int64
	// Healthy is what the region's deep health check answers.
	Healthy bool
	// HealthyPath is the path answering 200 when Healthy (default
	// /health/deep).
	HealthyPath string
}

// checkerRegions are Route 53's health-checking regions.
var checkerRegions = []string{"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}

const r53NS = "https://route53.amazonaws.com/doc/2013-04-01/"

// NewRoute53 starts a Route 53 fake with no health checks.
func NewRoute53(t T) *Route53 {
	t.Helper()
	r := &Route53{checks: map[string]*HealthCheck{}}
	r.start(t, r.serve)
	return r
}

// Put adds or replaces a health check (Version 0 becomes 1).
func (r *Route53) Put(hc HealthCheck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if hc.Version == 0 {
		hc.Version = 1
	}
	r.checks[hc.ID] = &hc
}

// Check returns a copy of a health check's state.
func (r *Route53) Check(id string) (HealthCheck, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hc, ok := r.checks[id]
	if !ok {
		return HealthCheck{}, false
	}
	return *hc, true
}

// SetHealthy sets what the region behind a health check answers.
func (r *Route53) SetHealthy(id string, healthy bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[id].Healthy = healthy
}

// Touch changes a health check behind a caller's back (another operator):
// its version goes up.
func (r *Route53) Touch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[id].Version++
}

type r53Config struct {
	Port                     int32  `xml:"Port,omitempty"`
	Type                     string `xml:"Type"`
	ResourcePath             string `xml:"ResourcePath,omitempty"`
	FullyQualifiedDomainName string `xml:"FullyQualifiedDomainName,omitempty"`
	RequestInterval          int32  `xml:"RequestInterval,omitempty"`
	FailureThreshold         int32  `xml:"FailureThreshold,omitempty"`
	MeasureLatency           bool   `xml:"MeasureLatency"`
	Inverted                 bool   `xml:"Inverted"`
	Disabled                 bool   `xml:"Disabled"`
	EnableSNI                bool   `xml:"EnableSNI"`
}

type r53Check struct {
	ID                 string    `xml:"Id"`
	CallerReference    string    `xml:"CallerReference"`
	Config             r53Config `xml:"HealthCheckConfig"`
	HealthCheckVersion int64     `xml:"HealthCheckVersion"`
}

func (hc *HealthCheck) wire() r53Check {
	return r53Check{ID: hc.ID, CallerReference: "awsfake-" + hc.ID, HealthCheckVersion: hc.Version, Config: r53Config{
		Port: hc.Port, Type: hc.Type, ResourcePath: hc.ResourcePath, FullyQualifiedDomainName: hc.FQDN,
		RequestInterval: hc.RequestInterval, FailureThreshold: hc.FailureThreshold,
		Inverted: hc.Inverted, Disabled: hc.Disabled, EnableSNI: hc.EnableSNI,
	}}
}

// status is what one checker reports now (the raw result: the fake does
// not model Inverted or Disabled, which the command never sets).
func (hc *HealthCheck) status() string {
	healthyPath := hc.HealthyPath
	if healthyPath == "" {
		healthyPath = "/health/deep"
	}
	switch {
	case hc.ResourcePath != healthyPath:
		return "Failure: HTTP Status Code 404, Not Found"
	case !hc.Healthy:
		return "Failure: HTTP Status Code 503, Service Unavailable"
	}
	return "Success: HTTP Status Code 200, OK"
}

func (r *Route53) serve(w http.ResponseWriter, req *http.Request) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/2013-04-01/healthcheck/")
	if !ok {
		r53Error(w, APIError{Status: 404, Code: "UnknownOperation", Message: "awsfake: Route 53 does not fake " + req.Method + " " + req.URL.Path})
		return
	}
	id, sub, _ := strings.Cut(rest, "/")
	op := ""
	switch {
	case req.Method == http.MethodGet && sub == "":
		op = "GetHealthCheck"
	case req.Method == http.MethodGet && sub == "status":
		op = "GetHealthCheckStatus"
	case req.Method == http.MethodPost && sub == "":
		op = "UpdateHealthCheck"
	}
	if e, failed := r.record(signedRegion(req), op); failed {
		r53Error(w, e)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	hc, found := r.checks[id]
	if op == "" {
		r53Error(w, APIError{Status: 404, Code: "UnknownOperation", Message: "awsfake: Route 53 does not fake " + req.Method + " " + req.URL.Path})
		return
	}
	if !found {
		r53Error(w, APIError{Status: 404, Code: "NoSuchHealthCheck", Message: fmt.Sprintf("A health check with id %s does not exist.", id)})
		return
	}
	switch op {
	case "GetHealthCheck":
		r53Answer(w, "GetHealthCheckResponse", struct {
			HealthCheck r53Check `xml:"HealthCheck"`
		}{hc.wire()})
	case "GetHealthCheckStatus":
		type report struct {
			Status      string `xml:"Status"`
			CheckedTime string `xml:"CheckedTime"`
		}
		type observation struct {
			Region    string `xml:"Region"`
			IPAddress string `xml:"IPAddress"`
			Report    report `xml:"StatusReport"`
		}
		var obs []observation
		for i, region := range checkerRegions {
			obs = append(obs, observation{region, "15.177.0." + strconv.Itoa(i+1), report{hc.status(), "2026-01-01T00:00:00Z"}})
		}
		r53Answer(w, "GetHealthCheckStatusResponse", struct {
			Observations []observation `xml:"HealthCheckObservations>HealthCheckObservation"`
		}{obs})
	case "UpdateHealthCheck":
		var in struct {
			HealthCheckVersion *int64
			ResourcePath       *string
			FailureThreshold   *int32
			Inverted           *bool
			Disabled           *bool
		}
		if err := xml.NewDecoder(req.Body).Decode(&in); err != nil {
			r53Error(w, APIError{Status: 400, Code: "InvalidInput", Message: "awsfake: bad XML: " + err.Error()})
			return
		}
		if in.HealthCheckVersion != nil && *in.HealthCheckVersion != hc.Version {
			r53Error(w, APIError{Status: 409, Code: "HealthCheckVersionMismatch", Message: fmt.Sprintf("The value of HealthCheckVersion in the request (%d) doesn't match the health check's (%d).", *in.HealthCheckVersion, hc.Version)})
			return
		}
		if in.ResourcePath != nil {
			hc.ResourcePath = *in.ResourcePath
		}
		if in.FailureThreshold != nil {
			hc.FailureThreshold = *in.FailureThreshold
		}
		if in.Inverted != nil {
			hc.Inverted = *in.Inverted
		}
		if in.Disabled != nil {
			hc.Disabled = *in.Disabled
		}
		hc.Version++
		r53Answer(w, "UpdateHealthCheckResponse", struct {
			HealthCheck r53Check `xml:"HealthCheck"`
		}{hc.wire()})
	}
}

func r53Answer(w http.ResponseWriter, root string, v any) {
	b, err := xml.Marshal(named{root, v})
	if err != nil {
		r53Error(w, APIError{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	// The root element carries Route 53's namespace.
	b = []byte(strings.Replace(string(b), "<"+root+">", "<"+root+` xmlns="`+r53NS+`">`, 1))
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

func r53Error(w http.ResponseWriter, e APIError) {
	if e.Status == 0 {
		e.Status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	b, _ := xml.Marshal(struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		NS        string   `xml:"xmlns,attr"`
		Type      string   `xml:"Error>Type"`
		Code      string   `xml:"Error>Code"`
		Message   string   `xml:"Error>Message"`
		RequestID string   `xml:"RequestId"`
	}{NS: r53NS, Type: "Sender", Code: e.Code, Message: e.Message, RequestID: "awsfake"})
	_, _ = w.Write(b)
}
