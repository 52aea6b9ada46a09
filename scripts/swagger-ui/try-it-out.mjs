// Drives /docs (Swagger UI) in headless Chromium as a FastAPI user would: for every partner,
// admin, account and OCARIoT operation, "Authorize" with the bearer token its path needs,
// expand it, "Try it out", fill the path parameters with seeded ids, "Execute", and read
// the status Swagger UI shows. Fails when an operation shows no HTTP status (a request
// Swagger UI could not build or send), or a 5xx. CloudShare's operations are signed per
// request, which Swagger UI cannot do (their tag says so); they are checked for that text.
//
// Environment: API (classhub's URL), ADMIN (its admin token), OCARIOT_ADMIN_PASSWORD,
// CHROMIUM (the browser), SCREENSHOTS (a folder for a screenshot on failure).
import puppeteer from 'puppeteer-core';

const { API, ADMIN, OCARIOT_ADMIN_PASSWORD, CHROMIUM, SCREENSHOTS } = process.env;

async function call(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`seeding ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function seed() {
  const partner = await call('POST', '/admin/v1/partners', { name: 'Docs', email: 'docs@example.com', password: 'docs-password' }, ADMIN);
  const student = await call('POST', '/admin/v1/students', { name: 'Stu', email: 'stu@example.com' }, ADMIN);
  const model = await call('POST', '/admin/v1/models', { name: 'gpt', provider: 'openai' }, ADMIN);
  const course = await call('POST', '/admin/v1/courses', { partner_id: partner.id, title: 'Docs' }, ADMIN);
  const cls = await call('POST', `/partner/${partner.id}/classes`, { name: 'Docs', capacity: 100 }, partner.token);
  const enrollment = await call('POST', '/user/class/invites/redeem', { code: cls.invite_codes[0].code }, student.token);
  const project = await call('POST', '/admin/v1/cloudshare/projects', { name: 'Docs' }, ADMIN);
  const inProject = (rest, body) => call('POST', `/admin/v1/cloudshare/projects/${project.id}/${rest}`, body, ADMIN);
  const policy = await inProject('policies', { name: '1 hour', default_duration_minutes: 60 });
  const blueprint = await inProject('blueprints', { name: 'Linux' });
  const field = await inProject('custom-fields', { name: 'Cost centre', order: 1, type: 0, is_required: false });
  const member = await call('POST', '/admin/v1/cloudshare/members', { name: 'Ida', email: 'ida@example.com', project_ids: [project.id], can_instruct: true }, ADMIN);
  const oc = (await call('POST', '/v1/auth', { username: 'admin', password: OCARIOT_ADMIN_PASSWORD })).access_token;
  const institution = (await call('POST', '/v1/institutions', { type: 'School', name: 'Escola' }, oc)).id;
  const child = (await call('POST', '/v1/children', { username: 'BR01', password: 'childpass', institution_id: institution, gender: 'male', age: 11 }, oc)).id;
  const educator = (await call('POST', '/v1/educators', { username: 'teacher', password: 'teacherpw', institution_id: institution }, oc)).id;
  const hp = (await call('POST', '/v1/healthprofessionals', { username: 'doctor', password: 'doctorpw', institution_id: institution }, oc)).id;
  const edu = (await call('POST', '/v1/auth', { username: 'teacher', password: 'teacherpw' })).access_token;
  const doctor = (await call('POST', '/v1/auth', { username: 'doctor', password: 'doctorpw' })).access_token;
  const eduGroup = (await call('POST', `/v1/educators/${educator}/children/groups`, { name: 'G1', children: [child] }, edu)).id;
  const hpGroup = (await call('POST', `/v1/healthprofessionals/${hp}/children/groups`, { name: 'G1', children: [child] }, doctor)).id;
  return {
    tokens: { admin: ADMIN, partner: partner.token, student: student.token, oc, edu, doctor },
    ids: {
      partner_id: partner.id, class_id: cls.id, code_id: cls.invite_codes[0].id, student_id: student.id,
      user_id: student.id, enrollment_id: enrollment.id, course_id: course.id, child_id: child,
      educator_id: educator, healthprofessional_id: hp, project_id: project.id, model_id: model.id,
      policy_id: policy.id, blueprint_id: blueprint.id, field_id: field.id, vup_id: member.vup_ids[project.id],
    },
    groups: { educators: eduGroup, healthprofessionals: hpGroup },
  };
}

// The token an operation's path needs, as a client of each dialect holds it.
function tokenFor(path, tokens) {
  if (path.startsWith('/admin/')) return tokens.admin;
  if (path.startsWith('/partner/') || path === '/course' || path === '/models') return tokens.partner;
  if (path.startsWith('/user/')) return tokens.student;
  if (path.startsWith('/v1/educators/')) return tokens.edu;
  if (path.startsWith('/v1/healthprofessionals/')) return tokens.doctor;
  return tokens.oc;
}

const byText = (root, selector, text) =>
  root.evaluateHandle((r, s, t) => [...r.querySelectorAll(s)].find((e) => e.textContent.trim() === t) ?? null, selector, text);

async function authorize(page, token) {
  await page.click('.auth-wrapper .authorize');
  await page.waitForSelector('.modal-ux .auth-container');
  const containers = await page.$$('.modal-ux .auth-container');
  let done = false;
  for (const c of containers) {
    const title = await c.$eval('h4', (e) => e.textContent);
    if (!title.includes('bearer')) continue;
    const logout = await byText(c, 'button', 'Logout');
    if (logout.asElement()) await logout.asElement().click();
    const input = await c.waitForSelector('input');
    await input.type(token);
    const button = await byText(c, 'button', 'Authorize');
    await button.asElement().click();
    await page.waitForFunction((e) => [...e.querySelectorAll('button')].some((b) => b.textContent.trim() === 'Logout'), {}, c);
    done = true;
  }
  if (!done) throw new Error('no bearer scheme in the Authorize dialog');
  await page.click('.modal-ux .btn-done');
}

// Opens an operation and returns its "Try it out" button. A click can be lost while the
// page is still rendering the previous answer (seen on a loaded machine): then click again.
async function expand(block) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const open = await block.evaluate((b) => b.classList.contains('is-open'));
    if (!open) await (await block.$('.opblock-summary-control, .opblock-summary')).click();
    const button = await block.waitForSelector('.try-out__btn', { timeout: 10000 }).catch(() => null);
    if (button) return button;
  }
  throw new Error('the operation did not open');
}

async function tryOut(page, op, seeded) {
  const block = await page.waitForSelector(`[id="operations-${op.tag}-${op.operationId}"]`);
  const tryButton = await expand(block);
  await tryButton.click();
  for (const row of await block.$$('tr[data-param-name]')) {
    const name = await row.evaluate((r) => r.getAttribute('data-param-name'));
    const where = await row.evaluate((r) => r.getAttribute('data-param-in'));
    const input = await row.$('input[type=text], input:not([type])');
    if (where !== 'path' || !input) continue;
    let value = seeded.ids[name];
    if (name === 'group_id') value = seeded.groups[op.path.split('/')[2]];
    if (value === undefined) throw new Error(`${op.operationId}: no value for path parameter ${name}`);
    await input.type(String(value));
  }
  await (await block.waitForSelector('.btn.execute')).click();
  const cell = await block.waitForSelector('.live-responses-table .response .response-col_status');
  const status = Number((await cell.evaluate((e) => e.textContent)).trim());
  await (await block.$('.opblock-summary-control, .opblock-summary')).click();
  return status;
}

const seeded = await seed();
const spec = await (await fetch(`${API}/openapi.json`)).json();
const operations = [];
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
    operations.push({ path, method, operationId: op.operationId, tag: op.tags[0], secured: !!op.security });
  }
}
// Deletions last, so that the other operations meet the seeded records; grouped by token.
const order = (op) => `${op.method === 'delete' ? 1 : 0} ${tokenFor(op.path, seeded.tokens)} ${op.path} ${op.method}`;
operations.sort((a, b) => order(a).localeCompare(order(b)));

const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
const failures = [];
let tried = 0;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(`${API}/docs/`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('.opblock');
  const tagText = await page.$eval('[id="operations-tag-cloudshare"]', (e) => e.closest('.opblock-tag-section').textContent);
  if (!tagText.includes('signed by the client')) failures.push('the CloudShare tag does not explain cs_sha1 signing');
  let current = null;
  for (const op of operations) {
    if (op.tag === 'cloudshare') continue;
    const token = tokenFor(op.path, seeded.tokens);
    if (op.secured && token !== current) {
      await authorize(page, token);
      current = token;
    }
    const started = Date.now();
    try {
      const status = await tryOut(page, op, seeded);
      tried += 1;
      console.log(`${String(status).padEnd(4)} ${op.method.toUpperCase()} ${op.path} (${Date.now() - started} ms)`);
      if (!(status >= 200 && status < 500)) failures.push(`${op.method.toUpperCase()} ${op.path}: status ${status}`);
    } catch (e) {
      failures.push(`${op.method.toUpperCase()} ${op.path}: ${e.message}`);
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${op.operationId}.png`, fullPage: false });
    }
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`Try it out failed for ${failures.length} operation(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`Try it out worked for all ${tried} partner, admin, account and OCARIoT operations`);
