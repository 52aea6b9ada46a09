"""Schemathesis hooks for scripts/schemathesis.sh: valid credentials for every dialect.

On import (schemathesis loads this module through SCHEMATHESIS_HOOKS) it seeds the server
named by CLASSHUB_URL through the admin API (CLASSHUB_ADMIN_TOKEN) and the OCARIoT admin
(CLASSHUB_OCARIOT_ADMIN_PASSWORD): a partner, a student, a class with its code, a
CloudShare member and class, an OCARIoT educator and health professional with a group
each. Then:

- every request carries the credential its dialect expects: the partner's, student's or
  admin's bearer token, an OCARIoT JWT from POST /v1/auth, or a `cs_sha1` signature
  computed over the URL exactly as sent (so it is made in a `requests` auth object, after
  the query string is encoded) with a fresh nonce per request;
- most generated ids are replaced by the seeded ones, so that fuzzing reaches past
  "not found" into the handlers. The rest stay random, so unknown ids are fuzzed too.
"""

import hashlib
import json
import os
import secrets
import string
import time
import urllib.request
import zlib

import requests
import schemathesis

BASE = os.environ["CLASSHUB_URL"].rstrip("/")
ADMIN = os.environ["CLASSHUB_ADMIN_TOKEN"]
OC_ADMIN_PASSWORD = os.environ["CLASSHUB_OCARIOT_ADMIN_PASSWORD"]
# Share of generated ids replaced by seeded ones.
REAL_ID_SHARE = 0.7


def _call(method, path, body=None, token=None, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as res:
        if res.status not in expect:
            raise RuntimeError(f"seeding {method} {path}: {res.status}")
        text = res.read()
        return json.loads(text) if text else None


def _cs_header(api_id, api_key, url):
    timestamp = str(int(time.time()))
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(10))
    digest = hashlib.sha1(f"{api_key}{url}{timestamp}{nonce}".encode()).hexdigest()
    return f"cs_sha1 userapiid:{api_id};timestamp:{timestamp};token:{nonce};hmac:{digest}"


def _seed():
    s = {}
    # The lowest ids go to records of no consequence: the coverage phase names ids 1, 2, …
    # without the hooks below, and the admin API may disable, rotate or delete what it names.
    decoy = _call("POST", "/admin/v1/partners", {"name": "Decoy", "email": "decoy@example.com"}, ADMIN)
    for i in range(3):
        _call("POST", "/admin/v1/students", {"name": "Decoy", "email": f"decoy{i}@example.com"}, ADMIN)
    _call("POST", "/admin/v1/courses", {"partner_id": decoy["id"], "title": "Decoy"}, ADMIN)
    _call("POST", "/admin/v1/models", {"name": "decoy", "provider": "decoy"}, ADMIN)
    partner = _call("POST", "/admin/v1/partners", {"name": "Fuzz", "email": "fuzz@example.com"}, ADMIN)
    student = _call("POST", "/admin/v1/students", {"name": "Stu", "email": "stu@example.com"}, ADMIN)
    s["partner_token"], s["student_token"] = partner["token"], student["token"]
    s["partner_id"], s["student_id"] = partner["id"], student["id"]
    _call("POST", "/admin/v1/models", {"name": "gpt", "provider": "openai"}, ADMIN)
    s["course_id"] = _call("POST", "/admin/v1/courses", {"partner_id": partner["id"], "title": "Fuzzing"}, ADMIN)["id"]
    # Records of the admin API's own, which its operations may disable, rotate or delete.
    s["admin_own"] = {
        "user_id": _call("POST", "/admin/v1/students", {"name": "Own", "email": "own@example.com"}, ADMIN)["id"],
        "course_id": _call("POST", "/admin/v1/courses", {"partner_id": partner["id"], "title": "Own"}, ADMIN)["id"],
        "model_id": _call("POST", "/admin/v1/models", {"name": "own", "provider": "fuzz"}, ADMIN)["id"],
        # The admin API may rename, disable or delete a project: not the one the CloudShare
        # operations use.
        "project_id": _call("POST", "/admin/v1/cloudshare/projects", {"name": "Own"}, ADMIN)["id"],
    }
    cls = _call("POST", f"/partner/{partner['id']}/classes", {"name": "Fuzz", "capacity": 1000}, partner["token"])
    s["class_id"], s["code_id"] = cls["id"], cls["invite_codes"][0]["id"]
    s["enrollment_id"] = _call("POST", "/user/class/invites/redeem", {"code": cls["invite_codes"][0]["code"]},
                               student["token"])["id"]

    project = _call("POST", "/admin/v1/cloudshare/projects", {"name": "Fuzz"}, ADMIN)["id"]
    policy = _call("POST", f"/admin/v1/cloudshare/projects/{project}/policies",
                   {"name": "2h", "default_duration_minutes": 120}, ADMIN)["id"]
    blueprint = _call("POST", f"/admin/v1/cloudshare/projects/{project}/blueprints", {"name": "Linux"}, ADMIN)["id"]
    member = _call("POST", "/admin/v1/cloudshare/members",
                   {"name": "Ida", "email": "ida@example.com", "project_ids": [project], "can_instruct": True}, ADMIN)
    s.update(project=project, policy=policy, blueprint=blueprint, api_id=member["api_id"], api_key=member["api_key"])
    vup = member["vup_ids"][project]
    lab = _cs("POST", "/api/v3/class", s, {
        "name": "Fuzz lab", "projectId": project, "blueprintId": blueprint, "policyId": policy,
        "instructorVupId": vup, "startDate": "03/02/2031 09:00 AM", "timeZoneId": "Eastern Standard Time",
        "studentPassphrase": "secret", "limitEarlyAccess": 0, "maxStudents": 50})
    s["lab"] = lab["id"]
    s["lab_student"] = _cs("POST", f"/api/v3/class/{lab['id']}/students", s, {"email": "ann@example.com"})["studentId"]
    s["instructor"] = _cs("GET", f"/api/v3/instructors/class?classId={lab['id']}", s)[0]["id"]

    oc_admin = _call("POST", "/v1/auth", {"username": "admin", "password": OC_ADMIN_PASSWORD})["access_token"]
    institution = _call("POST", "/v1/institutions", {"type": "School", "name": "Escola"}, oc_admin)["id"]
    child = _call("POST", "/v1/children", {"username": "BR0001", "password": "childpass", "institution_id": institution,
                                           "gender": "male", "age": 11}, oc_admin)["id"]
    educator = _call("POST", "/v1/educators", {"username": "teacher", "password": "teacherpw",
                                               "institution_id": institution}, oc_admin)["id"]
    hp = _call("POST", "/v1/healthprofessionals", {"username": "doctor", "password": "doctorpw",
                                                   "institution_id": institution}, oc_admin)["id"]
    edu_token = _call("POST", "/v1/auth", {"username": "teacher", "password": "teacherpw"})["access_token"]
    hp_token = _call("POST", "/v1/auth", {"username": "doctor", "password": "doctorpw"})["access_token"]
    s["edu_group"] = _call("POST", f"/v1/educators/{educator}/children/groups",
                           {"name": "G1", "children": [child]}, edu_token)["id"]
    s["hp_group"] = _call("POST", f"/v1/healthprofessionals/{hp}/children/groups",
                          {"name": "G1", "children": [child]}, hp_token)["id"]
    s.update(oc_admin=oc_admin, institution=institution, child=child, educator=educator, hp=hp,
             edu_token=edu_token, hp_token=hp_token)
    return s


def _cs(method, path, s, body=None):
    url = BASE + path
    headers = {"Authorization": _cs_header(s["api_id"], s["api_key"], url), "Content-Type": "application/json"}
    res = requests.request(method, url, headers=headers, data=None if body is None else json.dumps(body))
    if res.status_code != 200:
        raise RuntimeError(f"seeding {method} {path}: {res.status_code} {res.text}")
    return res.json()


SEED = _seed()
PENDING_SIGNATURE = "cs_sha1 pending"


def _bearer_for(path):
    if path.startswith("/admin/"):
        return ADMIN
    if path.startswith("/partner/"):
        return SEED["partner_token"]
    if path.startswith("/user/"):
        return SEED["student_token"]
    if path.startswith("/v1/educators/"):
        return SEED["edu_token"]
    if path.startswith("/v1/healthprofessionals/"):
        return SEED["hp_token"]
    if path.startswith("/v1/"):
        return SEED["oc_admin"]
    return None


@schemathesis.auth(refresh_interval=None, retry_on=[])
class ClasshubAuth:
    """Applied to operations that declare security; schemathesis leaves it off in the cases
    that test a missing credential."""

    def get(self, case, ctx):
        return SEED

    def set(self, case, data, ctx):
        path = case.operation.path
        case.headers = case.headers or {}
        if path.startswith("/api/v3/"):
            # Signed in `before_call`'s auth object, once the final URL is known.
            case.headers["Authorization"] = PENDING_SIGNATURE
        else:
            token = _bearer_for(path)
            if token:
                case.headers["Authorization"] = f"Bearer {token}"


class _CsSigner(requests.auth.AuthBase):
    def __call__(self, r):
        if r.headers.get("Authorization") == PENDING_SIGNATURE:
            r.headers["Authorization"] = _cs_header(SEED["api_id"], SEED["api_key"], r.url)
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path.startswith("/api/v3/"):
        kwargs["auth"] = _CsSigner()


# Seeded values per (path prefix, parameter name).
def _real_ids(path):
    if path.startswith("/partner/") or path.startswith("/user/"):
        return {"partner_id": SEED["partner_id"], "class_id": SEED["class_id"], "code_id": SEED["code_id"],
                "user_id": SEED["student_id"], "student_id": SEED["student_id"],
                "enrollment_id": SEED["enrollment_id"], "course_id": SEED["course_id"]}
    if path.startswith("/api/v3/"):
        return {"classId": SEED["lab"], "studentId": SEED["lab_student"], "projectId": SEED["project"],
                "blueprintId": SEED["blueprint"], "policyId": SEED["policy"], "ciId": SEED["instructor"]}
    if path.startswith("/admin/v1/cloudshare/projects/"):
        return {"project_id": SEED["admin_own"]["project_id"]}
    if path.startswith("/v1/educators/"):
        return {"educator_id": SEED["educator"], "group_id": SEED["edu_group"]}
    if path.startswith("/v1/healthprofessionals/"):
        return {"healthprofessional_id": SEED["hp"], "group_id": SEED["hp_group"]}
    if path.startswith("/v1/children/"):
        return {"child_id": SEED["child"]}
    # Not /v1/users/{user_id}: deleting the seeded users would end the run's credentials.
    return {}


# The admin API's user, course and model operations may disable, rotate or delete what
# they name: every well-formed id there names the admin API's own records, so the seeded
# credentials and records the other operations use last the whole run.
ADMIN_OWN = ("/admin/v1/users/", "/admin/v1/courses/", "/admin/v1/models/")


def _substitute(context, values):
    if not values or context.operation is None:
        return values
    if context.operation.path.startswith(ADMIN_OWN):
        for name in list(values):
            if name in SEED["admin_own"] and str(values[name]).isdigit() and int(values[name]) > 0:
                values[name] = SEED["admin_own"][name]
        return values
    real = _real_ids(context.operation.path)
    for name in list(values):
        # Decided by the generated value, not by `random`: hypothesis seeds `random` alike
        # for every example, and a replacement must be reproducible when a failure replays.
        if name in real and zlib.crc32(repr(values[name]).encode()) % 100 < REAL_ID_SHARE * 100:
            values[name] = real[name]
    return values


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    return _substitute(context, path_parameters)


@schemathesis.hook
def map_query(context, query):
    return _substitute(context, query)
