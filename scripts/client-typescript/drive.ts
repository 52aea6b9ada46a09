// Drives a live classhub through a TypeScript client generated from its own /openapi.json:
// `schema.d.ts` (openapi-typescript) and openapi-fetch's `createClient<paths>()`, nothing else.
// Every path, parameter and body below is checked by tsc against the generated types, and
// every response body is checked at run time against the schema the document gives for its
// status, so the document cannot promise what the server does not send. Run by
// scripts/client-typescript.sh, which starts classhub and passes CLASSHUB_URL, ADMIN_TOKEN
// and OPENAPI (the fetched document's file).
import { readFileSync } from "node:fs";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schema = Record<string, unknown>;
type ErrorItem = components["schemas"]["ErrorItem"];

const baseUrl = need("CLASSHUB_URL");
const doc = JSON.parse(readFileSync(need("OPENAPI"), "utf8")) as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
};

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

class Mismatch extends Error {}

function fail(message: string): never {
  throw new Mismatch(message);
}

function equal<T>(what: string, actual: T, expected: T): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

function ok(what: string, condition: boolean): void {
  if (!condition) fail(what);
}

// The JSON Schema subset the document uses: $ref, type (one or a list), required,
// properties (an undocumented property is a mismatch too: a generated client cannot see it),
// items, oneOf, pattern, minimum/maximum, minLength/maxLength, format date-time.
function conform(value: unknown, schema: Schema, at: string): string[] {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = doc.components.schemas[name];
    if (!target) return [`${at}: unknown $ref ${schema.$ref}`];
    return conform(value, target, at);
  }
  if (Array.isArray(schema.oneOf)) {
    const matching = (schema.oneOf as Schema[]).filter((s) => conform(value, s, at).length === 0);
    return matching.length === 1 ? [] : [`${at}: ${JSON.stringify(value)} matches ${matching.length} of oneOf`];
  }
  const kind =
    value === null ? "null"
    : Array.isArray(value) ? "array"
    : typeof value === "number" ? (Number.isInteger(value) ? "integer" : "number")
    : typeof value;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.includes(kind) && !(kind === "integer" && types.includes("number"))) {
      return [`${at}: ${JSON.stringify(value)} is not ${types.join(" or ")}`];
    }
  }
  const errors: string[] = [];
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) {
      errors.push(`${at}: ${JSON.stringify(value)} is not a date-time`);
    }
    if (typeof schema.minLength === "number" && [...value].length < schema.minLength) errors.push(`${at}: too short`);
    if (typeof schema.maxLength === "number" && [...value].length > schema.maxLength) errors.push(`${at}: too long`);
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${at}: ${value} < ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${at}: ${value} > ${schema.maximum}`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => errors.push(...conform(item, schema.items as Schema, `${at}[${i}]`)));
  }
  if (kind === "object" && (schema.properties || schema.required)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const name of (schema.required ?? []) as string[]) {
      if (!(name in object)) errors.push(`${at}.${name}: required, absent`);
    }
    for (const [name, item] of Object.entries(object)) {
      if (properties[name]) errors.push(...conform(item, properties[name], `${at}.${name}`));
      else if (schema.additionalProperties === undefined || schema.additionalProperties === false) {
        errors.push(`${at}.${name}: not in the document`);
      }
    }
  }
  return errors;
}

type Result = { response: Response; data?: unknown; error?: unknown };

// Awaits one call, checks its status and that its body is what the document says for
// that operation and status, and prints one line.
async function step<R extends Result>(
  name: string,
  method: "get" | "post" | "patch" | "put" | "delete",
  path: keyof paths,
  status: number,
  call: Promise<R>,
): Promise<R> {
  const result = await call;
  const got = result.response.status;
  const body = result.data ?? result.error;
  if (got !== status) fail(`${name}: ${method.toUpperCase()} ${path}: status ${got}, expected ${status}: ${JSON.stringify(body)}`);
  const documented = doc.paths[path]?.[method]?.responses[String(status)];
  if (!documented) fail(`${name}: ${method.toUpperCase()} ${path}: status ${status} is not documented`);
  const schema = documented.content?.["application/json"]?.schema;
  if (schema) {
    const errors = conform(body, schema, "body");
    if (errors.length > 0) fail(`${name}: ${method.toUpperCase()} ${path} ${status}: ${errors.join("; ")}`);
  } else if (body !== undefined && status !== 204) {
    fail(`${name}: ${method.toUpperCase()} ${path} ${status}: a body the document does not describe`);
  }
  console.log(`ok ${name}: ${method.toUpperCase()} ${path} -> ${got}`);
  return result;
}

function etagOf(result: Result, what: string): string {
  const etag = result.response.headers.get("etag");
  if (!etag) fail(`${what}: no ETag header`);
  return etag;
}

function validationItems(error: unknown, what: string): ErrorItem[] {
  const detail = (error as components["schemas"]["HttpValidationError"] | undefined)?.detail;
  if (!Array.isArray(detail) || detail.length === 0) fail(`${what}: no {detail: [...]} body`);
  return detail;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const admin = createClient<paths>({ baseUrl, headers: bearer(need("ADMIN_TOKEN")) });
const suffix = `${Date.now()}-${process.pid}`;

async function main(): Promise<void> {
  // The admin API: a partner and a student, each with its bearer token.
  const partnerMade = await step("admin creates a partner", "post", "/admin/v1/partners", 201,
    admin.POST("/admin/v1/partners", { body: { name: "TS Partner", email: `ts-partner-${suffix}@example.org` } }));
  const partner = partnerMade.data!;
  const studentMade = await step("admin creates a student", "post", "/admin/v1/students", 201,
    admin.POST("/admin/v1/students", { body: { name: "TS Student", email: `ts-student-${suffix}@example.org` } }));
  const student = studentMade.data!;
  equal("student name", student.name, "TS Student");

  const asPartner = createClient<paths>({ baseUrl, headers: bearer(partner.token) });
  const asStudent = createClient<paths>({ baseUrl, headers: bearer(student.token) });
  const partner_id = partner.id;

  // Create, read (ETag), patch with If-Match, a stale If-Match.
  const created = await step("partner creates a class", "post", "/partner/{partner_id}/classes", 201,
    asPartner.POST("/partner/{partner_id}/classes", {
      params: { path: { partner_id } },
      body: { name: "TypeScript 101", capacity: 30, timezone: "Asia/Seoul", budget_limit: "100.00", status: "planned" },
    }));
  const klass = created.data!;
  equal("created class name", klass.name, "TypeScript 101");
  equal("created class capacity", klass.capacity, 30);
  equal("created class partner", klass.partner_id, partner_id);
  const class_id = klass.id;

  const read = await step("partner reads the class", "get", "/partner/{partner_id}/classes/{class_id}", 200,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}", { params: { path: { partner_id, class_id } } }));
  equal("read class id", read.data!.id, class_id);
  const etag = etagOf(read, "GET class");

  const patched = await step("partner patches the class (If-Match)", "patch", "/partner/{partner_id}/classes/{class_id}", 200,
    asPartner.PATCH("/partner/{partner_id}/classes/{class_id}", {
      params: { path: { partner_id, class_id }, header: { "If-Match": etag } },
      body: { name: "TypeScript 102", description: "typed", capacity: 25 },
    }));
  equal("patched name", patched.data!.name, "TypeScript 102");
  equal("patched description", patched.data!.description, "typed");
  equal("patched capacity", patched.data!.capacity, 25);
  ok("the ETag changes with the class", etagOf(patched, "PATCH class") !== etag);

  const stale = await step("a stale If-Match is refused", "patch", "/partner/{partner_id}/classes/{class_id}", 412,
    asPartner.PATCH("/partner/{partner_id}/classes/{class_id}", {
      params: { path: { partner_id, class_id }, header: { "If-Match": etag } },
      body: { name: "lost update" },
    }));
  ok("412 body is {detail: string}", typeof stale.error?.detail === "string" && stale.error.detail.length > 0);

  const list = await step("partner lists classes", "get", "/partner/{partner_id}/classes", 200,
    asPartner.GET("/partner/{partner_id}/classes", { params: { path: { partner_id }, query: { limit: 10, offset: 0 } } }));
  equal("class list total", list.data!.total, 1);
  equal("class list ids", list.data!.items.map((c) => c.id), [class_id]);
  equal("class list name", list.data!.items[0]!.name, "TypeScript 102");

  // Invite codes: list, create; the student redeems one.
  const codes = await step("partner lists invite codes", "get", "/partner/{partner_id}/classes/{class_id}/invite-codes", 200,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}/invite-codes", {
      params: { path: { partner_id, class_id }, query: { active_only: true } },
    }));
  const codesBefore = codes.data!.total;
  const code = await step("partner creates an invite code", "post", "/partner/{partner_id}/classes/{class_id}/invite-codes", 201,
    asPartner.POST("/partner/{partner_id}/classes/{class_id}/invite-codes", {
      params: { path: { partner_id, class_id } },
      body: { max_uses: 5, target_role: "student" },
    }));
  equal("code class", code.data!.class_id, class_id);
  equal("code max_uses", code.data!.max_uses, 5);
  equal("code used_count", code.data!.used_count, 0);
  const codesAfter = await step("partner lists invite codes again", "get", "/partner/{partner_id}/classes/{class_id}/invite-codes", 200,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}/invite-codes", { params: { path: { partner_id, class_id } } }));
  equal("invite code count", codesAfter.data!.total, codesBefore + 1);
  ok("the new code is listed", codesAfter.data!.items.some((c) => c.id === code.data!.id));

  const redeemed = await step("student redeems the code", "post", "/user/class/invites/redeem", 201,
    asStudent.POST("/user/class/invites/redeem", { body: { code: code.data!.code } }));
  equal("enrollment class", redeemed.data!.class_id, class_id);
  equal("enrollment student", redeemed.data!.student_id, student.id);
  equal("enrollment code", redeemed.data!.invite_code_id, code.data!.id);
  equal("enrollment status", redeemed.data!.status, "active");

  // The roster and the history.
  const roster = await step("partner reads the roster", "get", "/partner/{partner_id}/classes/{class_id}/students", 200,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}/students", { params: { path: { partner_id, class_id } } }));
  equal("roster", roster.data!.items.map((s) => [s.user_id, s.name, s.invite_code_id]), [[student.id, "TS Student", code.data!.id]]);

  const history = await step("partner reads the class history", "get", "/partner/{partner_id}/classes/{class_id}/history", 200,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}/history", {
      params: { path: { partner_id, class_id }, query: { limit: 100 } },
    }));
  const actions = history.data!.items.map((e) => e.action);
  for (const action of ["class.create", "class.update", "invite_code.create", "membership.create"]) {
    ok(`history has ${action} (has ${actions.join(", ")})`, actions.includes(action));
  }

  // Error paths: FastAPI's 422 {detail: [...]} and a 404 {detail}.
  const invalid = await step("a capacity of 0 is refused (422)", "post", "/partner/{partner_id}/classes", 422,
    asPartner.POST("/partner/{partner_id}/classes", { params: { path: { partner_id } }, body: { name: "Zero", capacity: 0 } }));
  const items = validationItems(invalid.error, "422");
  ok(`422 names body.capacity (${JSON.stringify(items)})`, items.some((i) => JSON.stringify(i.loc) === '["body","capacity"]'));

  const badAdmin = await step("admin: a partner without email is refused (422)", "post", "/admin/v1/partners", 422,
    admin.POST("/admin/v1/partners", { body: { name: "No Email", email: "" } }));
  ok("admin 422 has items", validationItems(badAdmin.error, "admin 422").length > 0);

  const missing = await step("an unknown class is 404", "get", "/partner/{partner_id}/classes/{class_id}", 404,
    asPartner.GET("/partner/{partner_id}/classes/{class_id}", { params: { path: { partner_id, class_id: class_id + 1000 } } }));
  ok("404 body is {detail: string}", typeof missing.error?.detail === "string" && missing.error.detail.length > 0);
}

main().then(
  () => console.log("typescript client: all steps passed"),
  (e: unknown) => {
    console.error(e instanceof Mismatch ? `MISMATCH ${e.message}` : e);
    process.exit(1);
  },
);
