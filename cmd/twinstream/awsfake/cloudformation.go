package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// CloudFormation fakes DescribeStacks, ListStackResources and GetTemplate
// in the query protocol (form-encoded POST, XML answers).
type CloudFormation struct {
	server
	// PageSize is how many stacks or resources one page holds (default
	// 100, as ListStackResources); a smaller one makes callers paginate.
	PageSize int

	stacks map[string]map[string]*Stack // region -> name -> stack
}

// Stack is a deployed stack.
type Stack struct {
	Name      string
	Status    string // default UPDATE_COMPLETE
	Outputs   map[string]string
	Tags      map[string]string
	Resources []Resource
	// Template is the template body GetTemplate returns.
	Template string
}

// Resource is one stack resource.
type Resource struct {
	LogicalID, PhysicalID, Type string
}

// NewCloudFormation starts a CloudFormation fake with no stacks.
func NewCloudFormation(t T) *CloudFormation {
	t.Helper()
	cf := &CloudFormation{stacks: map[string]map[string]*Stack{}}
	cf.start(t, cf.serve)
	return cf
}

// Put deploys (or replaces) a stack in region.
func (cf *CloudFormation) Put(region string, s Stack) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if s.Status == "" {
		s.Status = "UPDATE_COMPLETE"
	}
	if cf.stacks[region] == nil {
		cf.stacks[region] = map[string]*Stack{}
	}
	cf.stacks[region][s.Name] = &s
}

// Delete removes a stack.
func (cf *CloudFormation) Delete(region, name string) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	delete(cf.stacks[region], name)
}

const cfNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

func (cf *CloudFormation) serve(w http.ResponseWriter, r *http.Request) {
	region := signedRegion(r)
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		cfError(w, APIError{Status: 400, Code: "MalformedQueryString", Message: "awsfake: want a form-encoded POST"})
		return
	}
	op := r.PostForm.Get("Action")
	if e, ok := cf.record(region, op); ok {
		cfError(w, e)
		return
	}
	if v := r.PostForm.Get("Version"); v != "2010-05-15" {
		cfError(w, APIError{Status: 400, Code: "InvalidParameterValue", Message: "awsfake: Version " + v})
		return
	}
	switch op {
	case "DescribeStacks":
		cf.describeStacks(w, region, r.PostForm.Get("StackName"), r.PostForm.Get("NextToken"))
	case "ListStackResources":
		cf.listResources(w, region, r.PostForm.Get("StackName"), r.PostForm.Get("NextToken"))
	case "GetTemplate":
		cf.getTemplate(w, region, r.PostForm.Get("StackName"))
	default:
		cfError(w, APIError{Status: 400, Code: "InvalidAction", Message: "awsfake: CloudFormation does not fake " + op})
	}
}

// stack finds a stack by name; CloudFormation answers ValidationError for
// one that does not exist.
func (cf *CloudFormation) stack(w http.ResponseWriter, region, name string) (*Stack, bool) {
	cf.mu.Lock()
	s, ok := cf.stacks[region][name]
	cf.mu.Unlock()
	if !ok {
		cfError(w, APIError{Status: 400, Code: "ValidationError", Message: fmt.Sprintf("Stack with id %s does not exist", name)})
	}
	return s, ok
}

func (cf *CloudFormation) pageSize() int {
	if cf.PageSize > 0 {
		return cf.PageSize
	}
	return 100
}

// page cuts n items at the position next (a NextToken) names.
func (cf *CloudFormation) page(n int, next string) (from, to int, token string) {
	if next != "" {
		from, _ = strconv.Atoi(next)
	}
	to = min(n, from+cf.pageSize())
	if to < n {
		token = strconv.Itoa(to)
	}
	return from, to, token
}

type cfMember struct {
	Key   string `xml:"OutputKey,omitempty"`
	Value string `xml:"OutputValue,omitempty"`
}

type cfTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type cfStack struct {
	StackName    string     `xml:"StackName"`
	StackID      string     `xml:"StackId"`
	StackStatus  string     `xml:"StackStatus"`
	CreationTime string     `xml:"CreationTime"`
	Outputs      []cfMember `xml:"Outputs>member"`
	Tags         []cfTag    `xml:"Tags>member"`
}

func (cf *CloudFormation) describeStacks(w http.ResponseWriter, region, name, next string) {
	var list []*Stack
	if name != "" {
		s, ok := cf.stack(w, region, name)
		if !ok {
			return
		}
		list = []*Stack{s}
	} else {
		cf.mu.Lock()
		for _, s := range cf.stacks[region] {
			list = append(list, s)
		}
		cf.mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	from, to, token := cf.page(len(list), next)
	var out []cfStack
	for _, s := range list[from:to] {
		cs := cfStack{
			StackName:    s.Name,
			StackID:      fmt.Sprintf("arn:aws:cloudformation:%s:123456789012:stack/%s/00000000-0000-0000-0000-000000000000", region, s.Name),
			StackStatus:  s.Status,
			CreationTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
		}
		for _, k := range sortedKeys(s.Outputs) {
			cs.Outputs = append(cs.Outputs, cfMember{Key: k, Value: s.Outputs[k]})
		}
		for _, k := range sortedKeys(s.Tags) {
			cs.Tags = append(cs.Tags, cfTag{Key: k, Value: s.Tags[k]})
		}
		out = append(out, cs)
	}
	cfAnswer(w, "DescribeStacks", struct {
		Stacks    []cfStack `xml:"Stacks>member"`
		NextToken string    `xml:"NextToken,omitempty"`
	}{out, token})
}

func (cf *CloudFormation) listResources(w http.ResponseWriter, region, name, next string) {
	s, ok := cf.stack(w, region, name)
	if !ok {
		return
	}
	type summary struct {
		LogicalResourceID    string `xml:"LogicalResourceId"`
		PhysicalResourceID   string `xml:"PhysicalResourceId"`
		ResourceType         string `xml:"ResourceType"`
		ResourceStatus       string `xml:"ResourceStatus"`
		LastUpdatedTimestamp string `xml:"LastUpdatedTimestamp"`
	}
	from, to, token := cf.page(len(s.Resources), next)
	var out []summary
	for _, r := range s.Resources[from:to] {
		out = append(out, summary{r.LogicalID, r.PhysicalID, r.Type, "CREATE_COMPLETE", "2026-01-01T00:00:00Z"})
	}
	cfAnswer(w, "ListStackResources", struct {
		Summaries []summary `xml:"StackResourceSummaries>member"`
		NextToken string    `xml:"NextToken,omitempty"`
	}{out, token})
}

func (cf *CloudFormation) getTemplate(w http.ResponseWriter, region, name string) {
	s, ok := cf.stack(w, region, name)
	if !ok {
		return
	}
	cfAnswer(w, "GetTemplate", struct {
		TemplateBody string   `xml:"TemplateBody"`
		Stages       []string `xml:"StagesAvailable>member"`
	}{s.Template, []string{"Original", "Processed"}})
}

// cfAnswer writes <OpResponse><OpResult>result</OpResult>...</OpResponse>.
func cfAnswer(w http.ResponseWriter, op string, result any) {
	type meta struct {
		RequestID string `xml:"RequestId"`
	}
	b, err := xml.Marshal(struct {
		XMLName xml.Name
		NS      string `xml:"xmlns,attr"`
		Result  any
		Meta    meta `xml:"ResponseMetadata"`
	}{XMLName: xml.Name{Local: op + "Response"}, NS: cfNS, Result: named{op + "Result", result}, Meta: meta{"awsfake"}})
	if err != nil {
		cfError(w, APIError{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

// named marshals v under the element name.
type named struct {
	name string
	v    any
}

func (n named) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(n.v, xml.StartElement{Name: xml.Name{Local: n.name}})
}

func cfError(w http.ResponseWriter, e APIError) {
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
	}{NS: cfNS, Type: "Sender", Code: e.Code, Message: e.Message, RequestID: "awsfake"})
	_, _ = w.Write(b)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
