"""Drives a live classhub with the Python client that openapi-python-client generated from its
/openapi.json (scripts/client-python.sh generates and installs it; nothing generated is
committed). Only the generated functions and models are used: a response the document
describes wrongly fails to parse here, or parses to the wrong model.

Environment: CLASSHUB_URL (the server), CLASSHUB_ADMIN_TOKEN (its --admin-token).
Prints one line per step; exits 1 on the first mismatch.
"""

import os
import sys
import uuid
from http import HTTPStatus

import attrs

from classhub_client import AuthenticatedClient
from classhub_client.api.admin import admin_create_partner, admin_create_student
from classhub_client.api.partner import (
    partner_create_class,
    partner_create_invite_code,
    partner_get_class,
    partner_list_class_history,
    partner_list_class_students,
    partner_list_classes,
    partner_list_invite_codes,
    partner_update_class,
)
from classhub_client.api.student import partner_redeem_invite_code
from classhub_client.models import (
    ClassBody,
    ClassOut,
    CodeBody,
    EnrollmentOut,
    ErrorItem,
    HttpError,
    HttpValidationError,
    InviteCodeOut,
    NewPersonBody,
    PageOutClassOut,
    PageOutEventOut,
    PageOutInviteCodeOut,
    PageOutStudentOut,
    PersonOut,
    RedeemBody,
)
from classhub_client.types import Response


class Mismatch(Exception):
    pass


def check(step, response: Response, status: int, model: type):
    """The response has this status and its body parsed to this model; returns the model."""
    if response.status_code != status:
        raise Mismatch(
            f"{step}: status {int(response.status_code)}, expected {status}: {response.content[:500]!r}"
        )
    if not isinstance(response.parsed, model):
        raise Mismatch(
            f"{step}: parsed {type(response.parsed).__name__}, expected {model.__name__}: "
            f"{response.content[:500]!r}"
        )
    extra = undocumented(response.parsed)
    if extra:
        raise Mismatch(f"{step}: fields not in the document: {'; '.join(extra)}")
    return response.parsed


def undocumented(value, path="body"):
    """Fields the server sent that the document does not declare: openapi-python-client keeps
    them in `additional_properties` of a model with declared properties (a free-form object,
    e.g. an event's `before`, declares none)."""
    found = []
    if attrs.has(type(value)):
        declared = [f.name for f in attrs.fields(type(value)) if f.name != "additional_properties"]
        extra = getattr(value, "additional_properties", {})
        if declared and extra:
            found.append(f"{path} ({type(value).__name__}): {sorted(extra)}")
        for name in declared:
            found += undocumented(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += undocumented(item, f"{path}[{i}]")
    return found


def expect(step, condition, what):
    if not condition:
        raise Mismatch(f"{step}: {what}")


def main() -> int:
    url = os.environ["CLASSHUB_URL"]
    admin = AuthenticatedClient(base_url=url, token=os.environ["CLASSHUB_ADMIN_TOKEN"],
                                raise_on_unexpected_status=True)
    tag = uuid.uuid4().hex[:8]
    step = "start"

    def ok(line):
        print(f"ok  {step}: {line}", flush=True)

    try:
        step = "admin_create_partner"
        r = admin_create_partner.sync_detailed(
            client=admin, body=NewPersonBody(name=f"Partner {tag}", email=f"p-{tag}@example.com"))
        partner_person = check(step, r, 201, PersonOut)
        expect(step, partner_person.token, "no token")
        ok(f"201 partner {partner_person.id}")
        pid = partner_person.id
        partner = AuthenticatedClient(base_url=url, token=partner_person.token,
                                      raise_on_unexpected_status=True)

        step = "admin_create_student"
        r = admin_create_student.sync_detailed(
            client=admin, body=NewPersonBody(name=f"Student {tag}", email=f"s-{tag}@example.com"))
        student_person = check(step, r, 201, PersonOut)
        ok(f"201 student {student_person.id}")
        student = AuthenticatedClient(base_url=url, token=student_person.token,
                                      raise_on_unexpected_status=True)

        step = "partner_create_class"
        r = partner_create_class.sync_detailed(
            pid, client=partner,
            body=ClassBody(name=f"Class {tag}", capacity=30, timezone="Asia/Seoul",
                           description="made by the generated Python client"))
        created = check(step, r, 201, ClassOut)
        expect(step, created.name == f"Class {tag}" and created.capacity == 30
               and created.partner_id == pid, f"unexpected class {created.to_dict()}")
        cid = created.id
        ok(f"201 class {cid}")

        step = "partner_get_class"
        r = partner_get_class.sync_detailed(pid, cid, client=partner)
        got = check(step, r, 200, ClassOut)
        etag = r.headers.get("ETag")
        expect(step, etag, "no ETag header")
        expect(step, got.id == cid and got.name == created.name, f"unexpected class {got.to_dict()}")
        ok(f"200 ETag {etag}")

        step = "partner_update_class (If-Match)"
        r = partner_update_class.sync_detailed(
            pid, cid, client=partner, body=ClassBody(capacity=40, description=None), if_match=etag)
        patched = check(step, r, 200, ClassOut)
        expect(step, patched.capacity == 40 and patched.description is None,
               f"patch not applied: {patched.to_dict()}")
        new_etag = r.headers.get("ETag")
        expect(step, new_etag and new_etag != etag, f"ETag {new_etag!r} after the change")
        ok(f"200 capacity 40, ETag {new_etag}")

        step = "partner_update_class (stale If-Match)"
        r = partner_update_class.sync_detailed(
            pid, cid, client=partner, body=ClassBody(capacity=50), if_match=etag)
        err = check(step, r, 412, HttpError)
        expect(step, isinstance(err.detail, str) and err.detail, "empty detail")
        ok(f"412 {err.detail!r}")

        step = "partner_list_classes"
        r = partner_list_classes.sync_detailed(pid, client=partner, limit=10)
        page = check(step, r, 200, PageOutClassOut)
        expect(step, page.total == 1 and [c.id for c in page.items] == [cid],
               f"unexpected page {page.to_dict()}")
        expect(step, page.items[0].capacity == 40, "the list shows the class unchanged")
        ok(f"200 total {page.total}")

        step = "partner_create_invite_code"
        r = partner_create_invite_code.sync_detailed(pid, cid, client=partner,
                                                     body=CodeBody(max_uses=5))
        code = check(step, r, 201, InviteCodeOut)
        expect(step, code.class_id == cid and code.status == "active" and code.max_uses == 5
               and code.used_count == 0, f"unexpected code {code.to_dict()}")
        ok(f"201 code {code.code}")

        step = "partner_list_invite_codes"
        r = partner_list_invite_codes.sync_detailed(pid, cid, client=partner)
        codes = check(step, r, 200, PageOutInviteCodeOut)
        # A new class comes with a code of its own; the one made above is the newest.
        expect(step, codes.total == len(codes.items) >= 1 and codes.items[0].code == code.code,
               f"unexpected page {codes.to_dict()}")
        ok(f"200 total {codes.total} {[c.code for c in codes.items]}")

        step = "partner_redeem_invite_code (student)"
        r = partner_redeem_invite_code.sync_detailed(client=student, body=RedeemBody(code=code.code))
        enrollment = r.parsed
        expect(step, r.status_code in (HTTPStatus.OK, HTTPStatus.CREATED),
               f"status {int(r.status_code)}: {r.content[:500]!r}")
        check(step, r, int(r.status_code), EnrollmentOut)
        expect(step, enrollment.class_id == cid and enrollment.student_id == student_person.id
               and enrollment.invite_code_id == code.id, f"unexpected enrollment {enrollment.to_dict()}")
        ok(f"{int(r.status_code)} enrollment {enrollment.id} ({enrollment.status})")

        step = "partner_list_class_students"
        r = partner_list_class_students.sync_detailed(pid, cid, client=partner)
        roster = check(step, r, 200, PageOutStudentOut)
        expect(step, roster.total == 1 and roster.items[0].user_id == student_person.id
               and roster.items[0].invite_code_id == code.id, f"unexpected roster {roster.to_dict()}")
        ok(f"200 roster {[s.name for s in roster.items]}")

        step = "partner_list_class_history"
        r = partner_list_class_history.sync_detailed(pid, cid, client=partner)
        history = check(step, r, 200, PageOutEventOut)
        actions = [e.action for e in history.items]
        for action in ("class.create", "class.update", "invite_code.create", "membership.create"):
            expect(step, action in actions, f"no {action} in {actions}")
        ok(f"200 {actions}")

        step = "partner_create_class (422)"
        r = partner_create_class.sync_detailed(pid, client=partner,
                                               body=ClassBody(name=f"Bad {tag}", capacity=-1))
        invalid = check(step, r, 422, HttpValidationError)
        expect(step, invalid.detail and all(isinstance(i, ErrorItem) for i in invalid.detail),
               f"unexpected detail {invalid.to_dict()}")
        first = invalid.detail[0]
        expect(step, "capacity" in [str(part) for part in first.loc] and first.msg and first.type_,
               f"unexpected item {first.to_dict()}")
        ok(f"422 {first.type_} at {first.loc}: {first.msg}")

        step = "partner_get_class (404)"
        r = partner_get_class.sync_detailed(pid, cid + 1_000_000, client=partner)
        missing = check(step, r, 404, HttpError)
        expect(step, missing.detail, "empty detail")
        ok(f"404 {missing.detail!r}")
    except Mismatch as e:
        print(f"FAIL {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # a body that does not parse to its documented model
        print(f"FAIL {step}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        raise
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
