// Command main drives classhub with the official CloudShare Go SDK
// (github.com/cloudshare/go-sdk, unchanged): its typed API for projects, blueprints,
// policies and regions, and Client.Request for classes, students and instructors (the SDK
// has no typed calls for them; cscurl uses Request the same way).
//
// Run by tests/sdks.rs in GOPATH mode against `classhub serve` over HTTPS, verifying the
// server's certificate against the test CA (SSL_CERT_FILE; DEBUG is not set). The SDK's
// client uses http.DefaultTransport, so the class calls run twice: over HTTP/2 (what Go
// negotiates) and over HTTP/1.1 (what the SDK's DEBUG transport speaks). The environment
// names the host, the credentials of an instructor and of a project manager, and the
// catalog made through the admin API. Prints one line per check and exits non-zero at
// the first failure.
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/cloudshare/go-sdk/cloudshare"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func check(what string, ok bool, detail ...interface{}) {
	if !ok {
		fail("%s: %v", what, detail)
	}
	fmt.Printf("ok   %s\n", what)
}

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fail("environment variable %s is not set", name)
	}
	return v
}

// protocols records the protocol of every answer the SDK gets (its http.Client uses
// http.DefaultTransport).
type protocols struct {
	inner http.RoundTripper
	seen  map[string]int
}

func (p *protocols) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := p.inner.RoundTrip(req)
	if err == nil {
		p.seen[res.Proto]++
	}
	return res, err
}

var transport = &protocols{inner: http.DefaultTransport, seen: map[string]int{}}

// only checks that every answer since the last call came over `proto`.
func only(proto string) {
	var n int
	for p, count := range transport.seen {
		if p != proto {
			fail("answers over %s where %s was expected: %v", p, proto, transport.seen)
		}
		n += count
	}
	check(fmt.Sprintf("%d answers, all over %s", n, proto), n > 0, transport.seen)
	transport.seen = map[string]int{}
}

func init() {
	http.DefaultTransport = transport
	// Go 1.19's math/rand is unseeded: every process signs with the same token sequence,
	// and two processes of one API id within one second would replay each other's tokens.
	rand.Seed(time.Now().UnixNano())
}

var (
	host       = env("CS_HOST")
	instructor = &cloudshare.Client{APIID: env("CS_API_ID"), APIKey: env("CS_API_KEY"), APIHost: host}
	manager    = &cloudshare.Client{APIID: env("CS_MANAGER_API_ID"), APIKey: env("CS_MANAGER_API_KEY"), APIHost: host}
	project    = env("CS_PROJECT")
	policy     = env("CS_POLICY")
	blueprint  = env("CS_BLUEPRINT")
	field      = env("CS_FIELD")
	vup        = env("CS_VUP")
	vup2       = env("CS_VUP2")
)

func projectIDs(list []cloudshare.Project) []string {
	ids := []string{}
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	return ids
}

// request calls Client.Request with a JSON body (nil: none) and decodes a 2xx answer into
// out; the status must be `status`.
func request(c *cloudshare.Client, method, path string, query *url.Values, body interface{}, status int, out interface{}) {
	var content *string
	if raw, ok := body.(rawBody); ok {
		s := string(raw)
		content = &s
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			fail("%s %s: %v", method, path, err)
		}
		s := string(b)
		content = &s
	}
	res, err := c.Request(method, path, query, content)
	if res == nil {
		fail("%s %s: no answer: %v", method, path, err)
	}
	if res.StatusCode != status {
		fail("%s %s: expected %d, got %d: %s", method, path, status, res.StatusCode, res.Body)
	}
	if status/100 == 2 {
		if err != nil {
			fail("%s %s: %v", method, path, err)
		}
		if out != nil {
			if e := json.Unmarshal(res.Body, out); e != nil {
				fail("%s %s: cannot decode %s: %v", method, path, res.Body, e)
			}
		}
	} else {
		// Non-2xx: the SDK returns the decoded *APIError; `code` is a string.
		apiErr, ok := err.(*cloudshare.APIError)
		want := fmt.Sprintf("0x%d", status)
		if !ok || apiErr.Code != want || apiErr.Message == "" {
			fail("%s %s: error %#v is not {message, code %q}", method, path, err, want)
		}
		if out != nil {
			reflect.ValueOf(out).Elem().Set(reflect.ValueOf(*apiErr))
		}
	}
	fmt.Printf("ok   %s %s -> %d\n", method, path, res.StatusCode)
}

type classObject struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	ShortID             string `json:"shortId"`
	PolicyID            string `json:"policyId"`
	BlueprintID         string `json:"blueprintId"`
	ProjectID           string `json:"projectId"`
	InstructorVupID     string `json:"instructorVupId"`
	StartDate           string `json:"startDate"`
	EndDate             string `json:"endDate"`
	Status              string `json:"status"`
	MaxStudents         *int   `json:"maxStudents"`
	DefaultDurationMins int    `json:"defaultDurationInMinutes"`
	CustomFieldsValues  []struct {
		ID    string  `json:"id"`
		Value *string `json:"value"`
	} `json:"customFieldsValues"`
}

type student struct {
	ID          string        `json:"id"`
	FirstName   string        `json:"firstName"`
	LastName    string        `json:"lastName"`
	Email       string        `json:"email"`
	Status      int           `json:"status"`
	EnvStatus   interface{}   `json:"envStatus"`
	EnvID       interface{}   `json:"envId"`
	EnvCommands []interface{} `json:"envCommands"`
}

type instructorLink struct {
	ID                    string `json:"id"`
	VupID                 string `json:"vupId"`
	Email                 string `json:"email"`
	Name                  string `json:"name"`
	IsLeadInstructor      bool   `json:"isLeadInstructor"`
	IsInvited             bool   `json:"isInvited"`
	IsEnvCreationDisabled bool   `json:"isEnvCreationDisabled"`
}

func typedAPI() {
	var regions []cloudshare.Region
	check("GetRegions", instructor.GetRegions(&regions) == nil && len(regions) == 1 &&
		strings.HasPrefix(regions[0].ID, "RE") && regions[0].Name != "", regions)

	var projects []cloudshare.Project
	check("GetProjects", instructor.GetProjects(&projects) == nil && len(projects) == 1 &&
		projects[0].ID == project && projects[0].Name == "SDK" && projects[0].IsActive, projects)
	filter := func(c *cloudshare.Client, filters ...string) []string {
		var list []cloudshare.Project
		if err := c.GetProjectsByFilter(filters, &list); err != nil {
			fail("GetProjectsByFilter %v: %v", filters, err)
		}
		return projectIDs(list)
	}
	check("GetProjectsByFilter WhereUserIsProjectManager: none for an instructor",
		len(filter(instructor, "WhereUserIsProjectManager")) == 0)
	check("GetProjectsByFilter WhereUserIsProjectManager: the manager's",
		reflect.DeepEqual(filter(manager, "WhereUserIsProjectManager"), []string{project}))
	// Two filters: the SDK sorts the query's keys; the signature covers them as sent.
	check("GetProjectsByFilter WhereUserIsProjectMember and WhereUserCanCreateClass",
		reflect.DeepEqual(filter(instructor, "WhereUserIsProjectMember", "WhereUserCanCreateClass"), []string{project}))

	var details cloudshare.ProjectDetails
	check("GetProjectDetails", instructor.GetProjectDetails(project, &details) == nil && details.ID == project &&
		details.Name == "SDK" && details.IsActive && len(details.Regions) == 1 &&
		details.Regions[0].ID == regions[0].ID && !details.CanAddPolicy, details)
	var managed cloudshare.ProjectDetails
	check("GetProjectDetails: the manager may add policies",
		manager.GetProjectDetails(project, &managed) == nil && managed.CanAddPolicy, managed)

	var blueprints []cloudshare.Blueprint
	check("GetBlueprints", instructor.GetBlueprints(project, &blueprints) == nil && len(blueprints) == 1 &&
		blueprints[0].ID == blueprint && blueprints[0].Name == "Linux", blueprints)
	var bp cloudshare.BlueprintDetails
	check("GetBlueprintDetails", instructor.GetBlueprintDetails(project, blueprint, &bp) == nil && bp.ID == blueprint &&
		bp.Name == "Linux", bp)

	var policies []cloudshare.Policy
	check("GetPolicies", instructor.GetPolicies(project, &policies) == nil && len(policies) == 1 &&
		policies[0].ID == policy && policies[0].Name == "2h" && policies[0].ProjectID == project, policies)

	req := cloudshare.PolicyRequest{Name: "go-sdk-3-days", ProjectID: project, RuntimeLeaseMinutes: 4320,
		StorageLeaseMinutes: 4320, InactivityHandlingType: "SuspendTheEnvironment", InactivityThresholdTime: 15}
	var refused cloudshare.PolicyCreationResponse
	err := instructor.CreateProjectPolicy(req, &refused)
	apiErr, ok := err.(*cloudshare.APIError)
	check("CreateProjectPolicy: a plain instructor is refused (403, code 0x403)",
		ok && apiErr.Code == "0x403" && strings.Contains(apiErr.Message, "permission"), err)
	var created cloudshare.PolicyCreationResponse
	check("CreateProjectPolicy as the manager", manager.CreateProjectPolicy(req, &created) == nil &&
		strings.HasPrefix(created.ID, "PO") && created.Name == req.Name, created)
	var after []struct {
		cloudshare.Policy
		DefaultDurationInMinutes int `json:"defaultDurationInMinutes"`
	}
	request(manager, "GET", "projects/"+project+"/policies", nil, nil, 200, &after)
	found := false
	for _, p := range after {
		found = found || (p.ID == created.ID && p.Name == req.Name && p.DefaultDurationInMinutes == 4320)
	}
	check("the new policy is listed, its runtime lease its default duration", found, after)
}

// cscurl does what its main does: the URL's host becomes APIHost, its path loses
// `api/v3/`, its query is parsed (and re-encoded by the SDK, keys sorted), and the body is
// always given (empty when there is none). The method goes as typed (`-m get`).
func cscurl(c *cloudshare.Client, method, rawURL, data string, status int, out interface{}) {
	parsed, err := url.Parse(rawURL)
	if err != nil {
		fail("%s: %v", rawURL, err)
	}
	query := parsed.Query()
	client := &cloudshare.Client{APIKey: c.APIKey, APIID: c.APIID, Tags: "cscurl", APIHost: parsed.Host}
	path := strings.Replace(parsed.Path, "api/v3/", "", 1)
	request(client, method, path, &query, rawBody(data), status, out)
}

// rawBody is a request body sent as it is.
type rawBody string

func classesThroughRequest(name string) {
	newClass := map[string]interface{}{
		"name": name, "projectId": project, "blueprintId": blueprint, "policyId": policy,
		"instructorVupId": vup, "startDate": "03/02/2031 09:00 AM", "timeZoneId": "Eastern Standard Time",
		"studentPassphrase": "pass", "limitEarlyAccess": 0, "maxStudents": 5,
		"customFieldsValues": []map[string]string{{"id": field, "value": "1234"}},
	}
	var created classObject
	request(instructor, "POST", "class", nil, newClass, 200, &created)
	check("create a class", strings.HasPrefix(created.ID, "CO") && created.Name == name &&
		created.ProjectID == project && created.PolicyID == policy && created.BlueprintID == blueprint &&
		created.InstructorVupID == vup && created.StartDate == "03/02/2031 09:00 AM" &&
		created.EndDate == "03/02/2031 11:00 AM" && created.Status == "upcoming" && created.MaxStudents != nil &&
		*created.MaxStudents == 5 && created.DefaultDurationMins == 120 && len(created.CustomFieldsValues) == 1 &&
		*created.CustomFieldsValues[0].Value == "1234", created)
	cid := created.ID

	// cscurl's default method is `get`, in lower case, with an empty body.
	var got classObject
	cscurl(instructor, "get", "https://"+host+"/api/v3/class/"+cid, "", 200, &got)
	check("GET with the method in lower case (cscurl)", reflect.DeepEqual(got, created), got)
	var detailed struct {
		Class    classObject `json:"class"`
		Students []student   `json:"students"`
	}
	cscurl(instructor, "get", "https://"+host+"/api/v3/class/actions/getdetailed?classId="+cid, "", 200, &detailed)
	check("getdetailed through cscurl (query parsed and re-encoded)",
		reflect.DeepEqual(detailed.Class, created) && detailed.Students != nil && len(detailed.Students) == 0, detailed)
	var missing cloudshare.APIError
	request(instructor, "GET", "class/COnot-a-class", nil, nil, 404, &missing)
	check("an unknown class: the SDK decodes {message, code}", strings.Contains(missing.Message, "not found"), missing)

	// The README's cscurl example, capitalised path and all.
	var added struct {
		StudentID string `json:"studentId"`
	}
	body := `{"email":"student1@test.com","firstName":"John","lastName":"Doe"}`
	cscurl(instructor, "POST", "https://"+host+"/api/v3/Class/"+cid+"/Students", body, 200, &added)
	check("add a student (the README's cscurl example)", strings.HasPrefix(added.StudentID, "SD"), added)
	var students []student
	query := url.Values{"isFull": {"true"}}
	request(instructor, "GET", "class/"+cid+"/students", &query, nil, 200, &students)
	check("list students", len(students) == 1 && students[0].ID == added.StudentID &&
		students[0].Email == "student1@test.com" && students[0].FirstName == "John" && students[0].LastName == "Doe" &&
		students[0].Status == 1 && students[0].EnvStatus == nil && students[0].EnvID == nil &&
		students[0].EnvCommands != nil && len(students[0].EnvCommands) == 0, students)

	link := map[string]interface{}{"instructorVupId": vup2, "classId": cid, "sendInviteNow": false,
		"disableEnvCreation": true}
	var instructorAdded instructorLink
	request(instructor, "POST", "instructors", nil, link, 200, &instructorAdded)
	check("add an instructor (the documented body)", strings.HasPrefix(instructorAdded.ID, "CI") &&
		instructorAdded.VupID == vup2 && !instructorAdded.IsLeadInstructor && !instructorAdded.IsInvited &&
		instructorAdded.IsEnvCreationDisabled, instructorAdded)
	var links []instructorLink
	byClass := url.Values{"classId": {cid}}
	request(instructor, "GET", "instructors/class", &byClass, nil, 200, &links)
	vups := []string{}
	for _, l := range links {
		vups = append(vups, l.VupID)
	}
	sort.Strings(vups)
	want := []string{vup, vup2}
	sort.Strings(want)
	check("the class's instructors", reflect.DeepEqual(vups, want) && links[0].VupID == vup &&
		links[0].IsLeadInstructor, links)

	var deleted map[string]interface{}
	request(instructor, "DELETE", "class/"+cid, nil, nil, 200, &deleted)
	check("delete the class", deleted != nil && len(deleted) == 0, deleted)
	request(instructor, "GET", "class/"+cid, nil, nil, 404, nil)
}

func main() {
	var ping struct {
		Result string `json:"result"`
	}
	request(instructor, "GET", "ping", nil, nil, 200, &ping)
	check("ping", ping.Result == "Pong", ping)
	// The SDK's TestBadKeys, pointed at classhub.
	bad := &cloudshare.Client{APIKey: "not valid", APIID: "invalid", APIHost: host}
	var regions []cloudshare.Region
	err := bad.GetRegions(&regions)
	apiErr, ok := err.(*cloudshare.APIError)
	check("bad keys: 401 decoded as {message, code 0x401}", ok && apiErr.Code == "0x401" &&
		apiErr.Message == "unknown API id", err)
	typedAPI()
	classesThroughRequest("Go SDK class over HTTP/2")
	only("HTTP/2.0")

	// What the SDK's DEBUG transport speaks, with the certificate still verified.
	transport.inner = &http.Transport{TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	classesThroughRequest("Go SDK class over HTTP/1.1")
	only("HTTP/1.1")
	fmt.Println("all Go SDK checks passed")
}
