"""Drives classhub with the real CloudShare Python SDK (PyPI `cloudshare`), unchanged.

Run by tests/process.rs against `classhub serve` over HTTPS; the environment names the
host, the credentials and the catalog made through the admin API. Prints one line per
check and exits non-zero at the first failure.
"""
import json
import os
import sys
import urllib.error
import urllib.request

import cloudshare

HOST = os.environ["CS_HOST"]
API_ID, API_KEY = os.environ["CS_API_ID"], os.environ["CS_API_KEY"]
PROJECT, POLICY, BLUEPRINT = os.environ["CS_PROJECT"], os.environ["CS_POLICY"], os.environ["CS_BLUEPRINT"]
VUP, VUP2, FIELD = os.environ["CS_VUP"], os.environ["CS_VUP2"], os.environ["CS_FIELD"]


def call(method, path, content=None, query=None, status=200):
    res = cloudshare.req(hostname=HOST, method=method, apiId=API_ID, apiKey=API_KEY, path=path,
                         queryParams=query, content=content)
    if res.status != status:
        sys.exit(f"FAIL {method} {path}: expected {status}, got {res.status}: {json.dumps(res.content)}")
    print(f"ok   {method} {path} -> {res.status}")
    return res.content


def check(what, condition, detail=""):
    if not condition:
        sys.exit(f"FAIL {what}: {detail}")
    print(f"ok   {what}")


def fetch(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


check("ping", call("GET", "ping") == {"result": "Pong"})
zones = call("GET", "timezones")
check("timezones", {"id": "Eastern Standard Time", "displayName": "(UTC-05:00) Eastern Time (US & Canada)"} in zones)
check("regions", len(call("GET", "regions")) == 1)
projects = call("GET", "projects", query={"WhereUserCanCreateClass": True})
check("projects", [p["id"] for p in projects] == [PROJECT], projects)
check("project", call("GET", f"projects/{PROJECT}")["id"] == PROJECT)
check("blueprints", [b["id"] for b in call("GET", f"projects/{PROJECT}/blueprints")] == [BLUEPRINT])
check("blueprint", call("GET", f"projects/{PROJECT}/blueprints/{BLUEPRINT}")["id"] == BLUEPRINT)
policies = call("GET", f"projects/{PROJECT}/policies")
check("policies", policies[0]["id"] == POLICY and policies[0]["defaultDurationInMinutes"] == 120, policies)
check("no classes yet", call("GET", "class") == [])
countries = call("GET", "class/actions/countries", query={"fullCountriesList": "true"})
check("countries", any(c["code"] == "US" and len(c["states"]) == 51 for c in countries))
instructors = call("GET", "class/actions/instructors", query={"policyId": POLICY})
# Everyone who can instruct in the project: the two instructors and the manager.
check("instructors of the policy", {i["id"] for i in instructors} == {VUP, VUP2, os.environ["CS_MANAGER_VUP"]},
      instructors)
fields = call("GET", "class/actions/customfields", query={"projectId": PROJECT})
check("custom fields", [f["id"] for f in fields] == [FIELD], fields)

new_class = {
    "name": "SDK class", "projectId": PROJECT, "blueprintId": BLUEPRINT, "policyId": POLICY,
    "instructorVupId": VUP, "startDate": "03/02/2031 09:00 AM", "timeZoneId": "Eastern Standard Time",
    "studentPassphrase": "pass", "limitEarlyAccess": 0, "maxStudents": 5,
    "customFieldsValues": [{"id": FIELD, "value": "abc"}],
}
bad = call("POST", "class", content=new_class, status=400)
check("custom field validation", "clientId does not match its pattern" in bad["message"] and bad["code"] == "0x400", bad)
new_class["customFieldsValues"] = [{"id": FIELD, "value": "1234"}]
created = call("POST", "class", content=new_class)
cid = created["id"]
check("create without endDate", created["endDate"] == "03/02/2031 11:00 AM" and cid.startswith("CO"), created)

# The official pattern: GET the class, change the name, PUT the whole object back.
data = call("GET", f"class/{cid}")
data["name"] = "SDK class, renamed"
changed = call("PUT", f"class/{cid}", content=data)
same = {k: v for k, v in changed.items() if k != "name"} == {k: v for k, v in data.items() if k != "name"}
check("GET, change the name, PUT back", changed["name"] == "SDK class, renamed" and same, changed)
check("PUT /class with the id in the body", call("PUT", "class", content={"id": cid, "maxStudents": "6"})["maxStudents"] == 6)
check("case-insensitive path", call("GET", f"Class/{cid}")["id"] == cid)

sid = call("POST", f"class/{cid}/students", content={"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"})["studentId"]
check("add a student", sid.startswith("SD"))
call("POST", f"class/{cid}/students", content={"email": "ann@example.com"}, status=400)
students = call("GET", f"class/{cid}/students", query={"isFull": "True"})
check("list students", [s["id"] for s in students] == [sid] and students[0]["status"] == 1, students)
check("get a student", call("GET", f"class/{cid}/students/{sid}")["email"] == "ann@example.com")
check("change a student", call("PUT", f"class/{cid}/students/{sid}", content={"lastName": "Lin"})["lastName"] == "Lin")
detailed = call("GET", "class/actions/getdetailed", query={"classId": cid})
check("getdetailed", detailed["class"]["id"] == cid and len(detailed["students"]) == 1)
call("POST", "class/actions/sendinvitations", query={"isMultiple": "true"}, content={"classId": cid, "studentIds": [sid]})
check("invited", call("GET", f"class/{cid}/students/{sid}")["status"] == 0)

link = call("POST", "class/sponsoredlink", content={"classId": cid, "studentEmail": "bo@example.com", "studentFirstName": "Bo",
            "studentLastName": "Ng", "registrationInfo": None, "preRegisterStudent": True})["loginUrl"]
status, page = fetch(link)
check("a sponsored link signs the student in", status == 200 and "Welcome, Bo." in page, (status, page))
statuses = {s["email"]: s["status"] for s in call("GET", f"class/{cid}/students")}
check("signed in", statuses == {"ann@example.com": 0, "bo@example.com": 2}, statuses)
call("POST", "class/disablesponsoredlink", content={"classId": cid, "studentEmail": "bo@example.com", "unregisterStudent": True})
check("a disabled link stops working", fetch(link)[0] == 404)

leads = call("GET", "instructors/class", query={"classId": cid})
check("class instructors", [i["vupId"] for i in leads] == [VUP] and leads[0]["isLeadInstructor"], leads)
added = call("POST", "instructors", content={"classId": cid, "vupId": VUP2})
check("add an instructor", added["vupId"] == VUP2 and not added["isLeadInstructor"], added)
call("DELETE", f"instructors/{added['id']}")
call("DELETE", f"class/{cid}/students/{sid}")
check("out of scope", call("GET", "envs", status=501)["code"] == "0x501")
call("DELETE", f"class/{cid}")
call("GET", f"class/{cid}", status=404)

if os.environ.get("CS_LEAVE_A_CLASS"):
    # For the copy test: a class with a student and a sponsored link, left in place.
    kept = call("POST", "class", content={**new_class, "name": "SDK class, kept"})["id"]
    call("POST", f"class/{kept}/students", content={"email": "cy@example.com", "firstName": "Cy", "lastName": "Oh"})
    call("POST", "class/sponsoredlink", content={"classId": kept, "studentEmail": "cy@example.com"})
print("all SDK checks passed")
