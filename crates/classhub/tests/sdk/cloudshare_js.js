// Drives classhub with the official CloudShare JavaScript SDK (vendored unchanged in
// js/cloudshare-js-sdk), through its one call, `req({hostname, method, path, queryParams,
// content, apiId, apiKey})`, over HTTPS that Node verifies against the test CA
// (NODE_EXTRA_CA_CERTS).
//
// Run by tests/sdks.rs against `classhub serve --tls-cert … --tls-key …`; the environment
// names the host, the credentials of an instructor and of a project manager, and the
// catalog made through the admin API. Every endpoint of the CloudShare dialect is called
// and the decoded answer checked. Prints one line per check and exits non-zero at the
// first failure.
'use strict';

const https = require('https');
const cssdk = require('./js/cloudshare-js-sdk/src/index.js');

let finished = false;

function fail(message) {
  console.log(`FAIL ${message}`);
  process.exit(1);
}

// A request that never settles would let Node exit quietly; neither may pass.
process.on('exit', (code) => {
  if (!finished && code === 0) {
    console.log('FAIL the driver stopped before its last check');
    process.exitCode = 1;
  }
});
setTimeout(() => fail('no answer within 120 s'), 120000).unref();

function env(name) {
  const value = process.env[name];
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

const HOST = env('CS_HOST');
const INSTRUCTOR = { apiId: env('CS_API_ID'), apiKey: env('CS_API_KEY') };
const MANAGER = { apiId: env('CS_MANAGER_API_ID'), apiKey: env('CS_MANAGER_API_KEY') };
const PROJECT = env('CS_PROJECT');
const POLICY = env('CS_POLICY');
const BLUEPRINT = env('CS_BLUEPRINT');
const FIELD = env('CS_FIELD');
const VUP = env('CS_VUP');
const VUP2 = env('CS_VUP2');
const MANAGER_VUP = env('CS_MANAGER_VUP');

const show = (v) => JSON.stringify(v);

function check(what, condition, detail) {
  if (!condition) fail(`${what}: ${detail === undefined ? '' : show(detail)}`);
  console.log(`ok   ${what}`);
}

function equal(what, actual, expected) {
  check(what, show(actual) === show(expected), { actual, expected });
}

// One SDK request as `who`; the answer must have `status`. Returns the decoded content.
// The SDK resolves 2xx answers and rejects the others with the same `{content, status}`
// (and with an Error when it could not send).
async function call(who, method, path, { query, content, status = 200 } = {}) {
  let res;
  try {
    res = await cssdk.req({
      hostname: HOST,
      method,
      path,
      queryParams: query,
      content,
      apiId: who.apiId,
      apiKey: who.apiKey,
    });
  } catch (e) {
    if (e instanceof Error) fail(`${method} ${path}: ${e.stack}`);
    res = e;
  }
  const q = query ? `?${Object.keys(query).map((k) => `${k}=${query[k]}`).join('&')}` : '';
  if (res.status !== status) {
    fail(`${method} ${path}${q}: expected ${status}, got ${res.status}: ${show(res.content)}`);
  }
  // Every answer is JSON the SDK decoded (it parses only a JSON content type).
  if (typeof res.content !== 'object' || res.content === null) {
    fail(`${method} ${path}${q}: the SDK did not decode JSON: ${show(res.content)}`);
  }
  if (status >= 400) {
    const c = res.content;
    if (typeof c.message !== 'string' || !c.message || c.code !== `0x${status}`) {
      fail(`${method} ${path}${q}: error body ${show(c)} is not {"message", "code": "0x${status}"}`);
    }
  }
  console.log(`ok   ${method} ${path}${q} -> ${res.status}`);
  return res.content;
}

// A page fetched as a browser would (for sponsored links).
function fetchPage(url) {
  return new Promise((resolve, reject) => {
    https
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

const I = INSTRUCTOR;
const M = MANAGER;

// The class object's fields, in CloudShare's order.
const CLASS_FIELDS = [
  'id', 'name', 'shortId', 'policyId', 'policyName', 'isUsingClassTypes', 'blueprintId', 'blueprintName',
  'blueprintToken', 'cloudName', 'timeZoneId', 'projectId', 'projectName', 'creatorName', 'creatorEmail',
  'instructorVupId', 'instructorName', 'defaultDurationInMinutes', 'allowStartDateEditing', 'limitEarlyAccess',
  'studentPassphrase', 'useCustomInvitationEmail', 'showCourseAddressField', 'address',
  'customInvitationEmailSubject', 'customInvitationEmailBody', 'defaultInvitationEmailSubject',
  'defaultInvitationEmailBody', 'showPermitAccessToNonRegisteredStudent',
  'allowEditDefaultsWhenPermitAccessToNonRegistered', 'permitAccessToNonRegisteredStudent', 'showMaxStudentsField',
  'maxStudents', 'maxLimitOnMaxStudentField', 'customFieldsValues', 'instructorEmail', 'timeZoneName', 'startDate',
  'endDate', 'status', 'selfPaced', 'allowMultipleStudentLogin', 'startDateUtcOffsetMinutes',
  'endDateUtcOffsetMinutes', 'studentLoginUrl', 'createDate',
];
const SUMMARY_FIELDS = [
  'id', 'name', 'shortId', 'regionId', 'instructorEmail', 'timeZoneName', 'startDate', 'endDate', 'status',
];
const STUDENT_FIELDS = ['id', 'firstName', 'lastName', 'email', 'status', 'envStatus', 'envId', 'envCommands'];
const INSTRUCTOR_FIELDS = ['id', 'vupId', 'email', 'name', 'isLeadInstructor', 'isInvited', 'isEnvCreationDisabled'];
const ids = (list) => list.map((x) => x.id);

async function lookups() {
  equal('ping', await call(I, 'GET', 'ping'), { result: 'Pong' });
  // Without credentials the SDK sends no Authorization header; with a wrong key, a wrong hmac.
  const unsigned = await call({}, 'GET', 'ping', { status: 401 });
  check('ping unsigned: 401 saying what is missing', /cs_sha1/.test(unsigned.message), unsigned);
  const wrong = await call({ apiId: I.apiId, apiKey: 'not-the-key' }, 'GET', 'ping', { status: 401 });
  check('ping with a wrong key: 401, the hmac does not match', /hmac does not match/.test(wrong.message), wrong);

  const zones = await call(I, 'GET', 'timezones');
  check('timezones: Eastern Standard Time with its display name',
    zones.some((z) => z.id === 'Eastern Standard Time' && z.displayName === '(UTC-05:00) Eastern Time (US & Canada)'),
    zones.slice(0, 3));
  check('timezones: every item has an id and a display name',
    zones.length > 100 && zones.every((z) => typeof z.id === 'string' && typeof z.displayName === 'string'),
    zones.length);

  const regions = await call(I, 'GET', 'regions');
  check('regions: [{id, name, friendlyName, cloudName}]',
    regions.length === 1 && regions[0].id.startsWith('RE') &&
      ['name', 'friendlyName', 'cloudName'].every((k) => typeof regions[0][k] === 'string'),
    regions);

  const projects = await call(I, 'GET', 'projects');
  equal('projects of the instructor', projects, [{ name: 'SDK', isActive: true, id: PROJECT }]);
  equal('projects/ (a trailing slash, as the Python wrapper sends it)', await call(I, 'GET', 'projects/'), projects);
  const filtered = async (who, query) => ids(await call(who, 'GET', 'projects', { query }));
  equal('projects WhereUserIsProjectManager: none for an instructor',
    await filtered(I, { WhereUserIsProjectManager: true }), []);
  equal('projects WhereUserIsProjectManager: the manager\'s',
    await filtered(M, { WhereUserIsProjectManager: true }), [PROJECT]);
  equal('projects WhereUserIsProjectMember', await filtered(I, { WhereUserIsProjectMember: true }), [PROJECT]);
  equal('projects WhereUserCanCreateClass', await filtered(I, { WhereUserCanCreateClass: true }), [PROJECT]);
  equal('projects with every filter, as XSOAR sends them (True/False)',
    await filtered(I, { WhereUserIsProjectManager: 'False', WhereUserIsProjectMember: 'True',
      WhereUserCanCreateClass: 'True' }), [PROJECT]);
  await call(I, 'GET', 'projects', { query: { WhereUserIsProjectManager: 'maybe' }, status: 400 });

  const project = await call(I, 'GET', `projects/${PROJECT}`);
  check('project details',
    project.id === PROJECT && project.name === 'SDK' && project.isActive === true &&
      show(ids(project.regions)) === show(ids(regions)) && Array.isArray(project.teams) &&
      project.canAddPolicy === false,
    project);
  check('project details: the manager may add policies',
    (await call(M, 'GET', `projects/${PROJECT}`)).canAddPolicy === true);
  await call(I, 'GET', 'projects/PRnot-a-project', { status: 404 });

  const blueprints = await call(I, 'GET', `projects/${PROJECT}/blueprints`);
  check('blueprints', show(ids(blueprints)) === show([BLUEPRINT]) && blueprints[0].name === 'Linux', blueprints);
  const blueprint = await call(I, 'GET', `projects/${PROJECT}/blueprints/${BLUEPRINT}`);
  check('one blueprint', blueprint.id === BLUEPRINT && blueprint.name === 'Linux', blueprint);

  const policies = await call(I, 'GET', `projects/${PROJECT}/policies`);
  equal('policies', policies, [
    { name: '2h', projectId: PROJECT, allowEnvironmentCreation: policies[0] && policies[0].allowEnvironmentCreation,
      id: POLICY, defaultDurationInMinutes: 120 },
  ]);
  check('policies: allowEnvironmentCreation is a boolean', typeof policies[0].allowEnvironmentCreation === 'boolean');

  // POST /policies: the Go SDK's body, for project managers only.
  const request = { name: 'js-sdk-3-days', projectId: PROJECT, runtimeLeaseMinutes: 4320,
    storageLeaseMinutes: 4320, inactivityHandlingType: 'SuspendTheEnvironment', inactivityThresholdTime: 15 };
  const refused = await call(I, 'POST', 'policies', { content: request, status: 403 });
  check('POST policies: a plain instructor is refused', /permission/.test(refused.message), refused);
  const created = await call(M, 'POST', 'policies', { content: request });
  check('POST policies as the manager: {id, name}', /^PO/.test(created.id) && created.name === request.name, created);
  const after = await call(M, 'GET', `projects/${PROJECT}/policies`);
  const made = after.find((p) => p.id === created.id);
  check('the new policy is listed, its runtime lease its default duration',
    made && made.name === request.name && made.projectId === PROJECT && made.defaultDurationInMinutes === 4320,
    after);
  return created.id;

  const countries = await call(I, 'GET', 'class/actions/countries', { query: { fullCountriesList: true } });
  const country = (code) => countries.find((c) => c.code === code);
  check('countries: ISO 3166 with states',
    countries.length >= 240 && country('US').englishName === 'United States' && country('US').states.length === 51 &&
      country('CA').states.length > 0 && country('AU').states.length > 0 &&
      country('US').states.every((s) => typeof s.code === 'string' && typeof s.englishName === 'string'),
    country('US'));

  const instructors = await call(I, 'GET', 'class/actions/instructors', { query: { policyId: POLICY } });
  equal('instructors of the policy\'s project', ids(instructors).sort(), [VUP, VUP2, MANAGER_VUP].sort());
  check('instructors: {id, name, email}',
    instructors.every((i) => typeof i.name === 'string' && /@example\.com$/.test(i.email)), instructors);

  const fields = await call(I, 'GET', 'class/actions/customfields', { query: { projectId: PROJECT } });
  equal('custom fields', fields, [{ id: FIELD, order: 1, name: 'clientId', type: 0, isRequired: true,
    regex: '^[0-9]+$', defaultValue: null, value: null }]);
}

async function classes(newPolicy) {
  equal('no classes yet', await call(I, 'GET', 'class'), []);
  // The SDK sends a bare `?` it did not sign when queryParams is an empty object.
  equal('a bare ? the SDK did not sign', await call(I, 'GET', 'class', { query: {} }), []);

  const newClass = {
    name: 'JS SDK class', projectId: PROJECT, blueprintId: BLUEPRINT, policyId: POLICY, instructorVupId: VUP,
    startDate: '03/02/2031 09:00 AM', timeZoneId: 'Eastern Standard Time', studentPassphrase: 'pass',
    limitEarlyAccess: 0, maxStudents: 5, customFieldsValues: [{ id: FIELD, value: 'abc' }],
  };
  const bad = await call(I, 'POST', 'class', { content: newClass, status: 400 });
  check('create: the custom field\'s pattern is enforced', /clientId does not match its pattern/.test(bad.message), bad);
  newClass.customFieldsValues = [{ id: FIELD, value: '1234' }];
  const created = await call(I, 'POST', 'class', { content: newClass });
  const cid = created.id;
  equal('create: the full class object, in CloudShare\'s field order', Object.keys(created), CLASS_FIELDS);
  check('create: the class as asked, endDate from the policy',
    /^CO/.test(cid) && created.name === newClass.name && created.projectId === PROJECT &&
      created.blueprintId === BLUEPRINT && created.policyId === POLICY && created.policyName === '2h' &&
      created.blueprintName === 'Linux' && /^[A-Z]{6}$/.test(created.blueprintToken) &&
      /^[a-z0-9]{5}$/.test(created.shortId) && created.instructorVupId === VUP &&
      created.startDate === '03/02/2031 09:00 AM' && created.endDate === '03/02/2031 11:00 AM' &&
      created.timeZoneName === '(UTC-05:00) Eastern Time (US & Canada)' && created.status === 'upcoming' &&
      created.startDateUtcOffsetMinutes === -300 && created.maxStudents === 5 && created.cloudName === 'classhub' &&
      created.maxLimitOnMaxStudentField === 60 &&
      created.defaultInvitationEmailSubject === '${CourseName} - Virtual Lab Access' &&
      created.customFieldsValues.length === 1 && created.customFieldsValues[0].value === '1234',
    created);

  const list = await call(I, 'GET', 'class');
  check('list: one summary', list.length === 1 && show(Object.keys(list[0])) === show(SUMMARY_FIELDS), list);
  check('list: its fields',
    list[0].id === cid && list[0].shortId === created.shortId && /^RE/.test(list[0].regionId) &&
      list[0].instructorEmail === created.instructorEmail && list[0].startDate === created.startDate &&
      list[0].endDate === created.endDate && list[0].status === 'upcoming', list[0]);

  const got = await call(I, 'GET', `class/${cid}`);
  equal('get: the object create answered', got, created);
  await call(I, 'GET', 'class/COnot-a-class', { status: 404 });

  // The official pattern: GET the class, change the name, PUT the whole object back.
  got.name = 'JS SDK class, renamed';
  const changed = await call(I, 'PUT', `class/${cid}`, { content: got });
  equal('PUT the whole object back (id in the body)', changed, got);
  const other = Object.assign({}, got, { id: 'COnot-this-class' });
  const mismatch = await call(I, 'PUT', `class/${cid}`, { content: other, status: 400 });
  check('PUT: an id in the body unlike the URL\'s is refused', /differs/.test(mismatch.message), mismatch);

  const byBody = await call(I, 'PUT', 'class', { content: { id: cid, maxStudents: '6' } });
  check('PUT /class with the id in the body only', byBody.maxStudents === 6 && byBody.name === got.name, byBody);
  const summer = await call(I, 'PUT', `class/${cid}`,
    { content: { id: cid, startDate: '07/02/2031 09:00 AM', endDate: '07/02/2031 11:00 AM' } });
  check('PUT dates: in daylight saving time, offsets -240',
    summer.startDate === '07/02/2031 09:00 AM' && summer.startDateUtcOffsetMinutes === -240 &&
      summer.endDateUtcOffsetMinutes === -240, summer);
  const back = await call(I, 'PUT', `class/${cid}`,
    { content: { id: cid, startDate: got.startDate, endDate: got.endDate, maxStudents: 5 } });
  equal('PUT the dates and maxStudents back', back, changed);
  equal('a path in another case (Class/{id})', await call(I, 'GET', `Class/${cid}`), changed);

  const detailed = await call(I, 'GET', 'class/actions/getdetailed', { query: { classId: cid } });
  check('getdetailed: {class, students}',
    show(Object.keys(detailed)) === show(['class', 'students']) && show(detailed.class) === show(changed) &&
      show(detailed.students) === '[]', detailed);

  // A class under the policy the manager made: its end is the policy's runtime lease later.
  const leased = await call(I, 'POST', 'class', { content: Object.assign({}, newClass, { name: 'leased',
    policyId: newPolicy }) });
  check('a class under the policy made with POST /policies',
    leased.policyId === newPolicy && leased.defaultDurationInMinutes === 4320 &&
      leased.endDate === '03/05/2031 09:00 AM', leased);
  // `content: null` makes the SDK send the body `null`: no body, as far as a DELETE goes.
  equal('DELETE with the body null (content: null)', await call(I, 'DELETE', `class/${leased.id}`,
    { content: null }), {});
  await call(I, 'GET', `class/${leased.id}`, { status: 404 });
  return cid;
}

async function students(cid) {
  const add = { email: 'ann@example.com', firstName: 'Ann', lastName: 'Lee' };
  // The path as the Go SDK's README writes it (Class/…/Students).
  const added = await call(I, 'POST', `Class/${cid}/Students`, { content: add });
  check('add a student: {studentId}', show(Object.keys(added)) === show(['studentId']) && /^SD/.test(added.studentId),
    added);
  const sid = added.studentId;
  const dup = await call(I, 'POST', `class/${cid}/students`, { content: { email: 'ann@example.com' }, status: 400 });
  check('add a student twice is refused', /already registered/.test(dup.message), dup);

  const list = await call(I, 'GET', `class/${cid}/students`, { query: { isFull: true } });
  equal('list students', list, [{ id: sid, firstName: 'Ann', lastName: 'Lee', email: 'ann@example.com', status: 1,
    envStatus: null, envId: null, envCommands: [] }]);
  const one = await call(I, 'GET', `class/${cid}/students/${sid}`);
  equal('get a student', one, list[0]);
  equal('student fields', Object.keys(one), STUDENT_FIELDS);
  const renamed = await call(I, 'PUT', `class/${cid}/students/${sid}`, { content: { lastName: 'Lin' } });
  check('change a student', renamed.lastName === 'Lin' && renamed.firstName === 'Ann' && renamed.id === sid, renamed);

  equal('send invitations', await call(I, 'POST', 'class/actions/sendinvitations',
    { query: { isMultiple: true }, content: { classId: cid, studentIds: [sid] } }), {});
  check('the invited student is status 0', (await call(I, 'GET', `class/${cid}/students/${sid}`)).status === 0);

  const link = await call(I, 'POST', 'class/sponsoredlink', { content: { classId: cid, studentEmail: 'bo@example.com',
    studentFirstName: 'Bo', studentLastName: 'Ng', registrationInfo: { company: 'CloudShare Ltd.', phone: '555' },
    preRegisterStudent: true } });
  check('sponsored link: {loginUrl}', /\/Class\/[a-z0-9]{5}\?token=/.test(link.loginUrl), link);
  const page = await fetchPage(link.loginUrl);
  check('a sponsored link signs the student in', page.status === 200 && page.body.includes('Welcome, Bo.'), page);
  const statuses = Object.fromEntries((await call(I, 'GET', `class/${cid}/students`)).map((s) => [s.email, s.status]));
  equal('statuses: invited and logged in', statuses, { 'ann@example.com': 0, 'bo@example.com': 2 });
  equal('disable the sponsored link', await call(I, 'POST', 'class/disablesponsoredlink',
    { content: { classId: cid, studentEmail: 'bo@example.com', unregisterStudent: true } }), {});
  check('a disabled link stops working', (await fetchPage(link.loginUrl)).status === 404);
  equal('unregistered with its link', ids(await call(I, 'GET', `class/${cid}/students`)), [sid]);

  equal('remove a student', await call(I, 'DELETE', `class/${cid}/students/${sid}`), {});
  await call(I, 'GET', `class/${cid}/students/${sid}`, { status: 404 });
  equal('no students left', await call(I, 'GET', `class/${cid}/students`), []);
}

async function instructors(cid) {
  const leads = await call(I, 'GET', 'instructors/class', { query: { classId: cid } });
  check('class instructors: the lead',
    leads.length === 1 && show(Object.keys(leads[0])) === show(INSTRUCTOR_FIELDS) && /^CI/.test(leads[0].id) &&
      leads[0].vupId === VUP && leads[0].isLeadInstructor === true, leads);
  // The documented body (the public Postman collection).
  const added = await call(I, 'POST', 'instructors',
    { content: { instructorVupId: VUP2, classId: cid, sendInviteNow: true, disableEnvCreation: true } });
  check('add an instructor',
    /^CI/.test(added.id) && added.vupId === VUP2 && added.isLeadInstructor === false && added.isInvited === true &&
      added.isEnvCreationDisabled === true && added.email === 'sam@example.com', added);
  const both = await call(I, 'GET', 'instructors/class', { query: { classId: cid } });
  equal('class instructors: the lead and the added one', both.map((i) => i.vupId), [VUP, VUP2]);
  equal('the added one as listed', both[1], added);
  equal('remove an instructor', await call(I, 'DELETE', `instructors/${added.id}`), {});
  equal('class instructors after the removal', ids(await call(I, 'GET', 'instructors/class',
    { query: { classId: cid } })), [leads[0].id]);
  await call(I, 'DELETE', `instructors/${leads[0].id}`, { status: 400 });
}

async function main() {
  const newPolicy = await lookups();
  const cid = await classes(newPolicy);
  await students(cid);
  await instructors(cid);
  const envs = await call(I, 'GET', 'envs', { status: 501 });
  check('environments are out of scope', envs.message === 'environments are not managed by classhub', envs);
  equal('delete the class', await call(I, 'DELETE', `class/${cid}`), {});
  await call(I, 'GET', `class/${cid}`, { status: 404 });
  equal('no classes left', await call(I, 'GET', 'class'), []);
  finished = true;
  console.log('all JS SDK checks passed');
}

main().catch((e) => fail(e && e.stack ? e.stack : show(e)));
